"""Turn analytic results into deliverables: GeoJSON, GeoPackage, tables, tiles, rasters, maps."""
