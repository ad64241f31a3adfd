"""Exports of stored layers to files, with provenance."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import geopandas as gpd
from sqlalchemy import Engine

from geo_service.errors import UnknownLayerError
from geo_service.filters import Filters
from geo_service.store.models import RECORD_TABLES
from geo_service.store.queries import provenance, read_jurisdictions, read_records
from layers.files import write_layer

EXPORTABLE = ("jurisdictions", *RECORD_TABLES)


def load_layer(engine: Engine, layer: str, filters: Filters) -> gpd.GeoDataFrame:
    """A stored layer as a GeoDataFrame."""
    if layer == "jurisdictions":
        return read_jurisdictions(engine, filters)
    if layer in RECORD_TABLES:
        return read_records(engine, layer, filters)
    raise UnknownLayerError(f"no layer {layer!r} to export; choose from {', '.join(EXPORTABLE)}")


def export_layer(
    engine: Engine, layer: str, fmt: str, out: Path, filters: Filters
) -> dict[str, Any]:
    """Write ``layer`` to ``out`` in ``fmt``; returns a summary with the feature count."""
    gdf = load_layer(engine, layer, filters)
    meta = provenance(engine, layer, filters)
    write_layer(gdf, out, fmt, meta)
    return {"layer": layer, "format": fmt, "path": str(out), "features": len(gdf), **meta}
