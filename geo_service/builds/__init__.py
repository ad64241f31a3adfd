"""From stored records to analytic layers: the registry of layers, their typed parameters,
the recipes, the inputs they read, the run that computes and stores a build, the public
views of builds, and exports of layers to files."""
