"""Scale-out: the Dask build of the additive layers and the partitions it reads."""
