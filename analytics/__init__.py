"""Pure computation on arrays and GeoDataFrames: no files, no HTTP, no settings."""
