"""Exports of layers to files, with provenance."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import geopandas as gpd
import shapely
from shapely.geometry.base import BaseGeometry
from sqlalchemy import Engine

from geo_service.builds.parameters import LayerParameters
from geo_service.builds.registry import ANALYTIC_LAYERS, parameters_of
from geo_service.builds.risk import is_point_layer
from geo_service.builds.run import analytic_layer
from geo_service.core.errors import (
    AuthenticationRequiredError,
    BadFilterError,
    UnknownLayerError,
)
from geo_service.core.filters import Filters
from geo_service.core.settings import Settings
from geo_service.store.models import RECORD_TABLES
from geo_service.store.queries import provenance, read_jurisdictions, read_records
from layers.errors import UnsupportedFormatError
from layers.files import LayerNames, write_layer
from layers.rasters import deliverable_geotiff, geotiff_to_surface, isobands_frame

EXPORTABLE = ("jurisdictions", *RECORD_TABLES, *ANALYTIC_LAYERS)


def load_layer(
    engine: Engine,
    layer: str,
    filters: Filters,
    parameters: LayerParameters | Mapping[str, Any] | None = None,
    settings: Settings | None = None,
) -> tuple[gpd.GeoDataFrame, dict[str, Any]]:
    """A layer as a GeoDataFrame and its provenance (analytic layers built when missing).

    With ``filters.min_count`` (the public view) point records are refused and analytic
    layers are their public views (:mod:`geo_service.disclosure`). ``settings`` give the
    risk layers' weights and tiers (the environment's when None).
    """
    public = filters.min_count is not None
    typed = parameters_of(layer, parameters or {}) if layer in ANALYTIC_LAYERS else None
    if public and (layer in RECORD_TABLES or is_point_layer(layer, typed)):
        raise AuthenticationRequiredError(f"{layer} are point records: they need an account")
    if layer == "jurisdictions":
        return read_jurisdictions(engine, filters), provenance(engine, layer, filters)
    if layer in RECORD_TABLES:
        return read_records(engine, layer, filters), provenance(engine, layer, filters)
    if typed is not None:
        stored = analytic_layer(engine, layer, filters, typed, settings)
        return stored.frame(), stored.provenance()
    raise UnknownLayerError(f"no layer {layer!r} to export; choose from {', '.join(EXPORTABLE)}")


def export_layer(
    engine: Engine,
    layer: str,
    fmt: str,
    out: Path,
    filters: Filters,
    parameters: LayerParameters | Mapping[str, Any] | None = None,
    settings: Settings | None = None,
    names: LayerNames | None = None,
) -> dict[str, Any]:
    """Write ``layer`` to ``out`` in ``fmt``; returns a summary with the feature count.

    ``kde`` is a raster: ``gtiff`` writes the surface itself (in a registered CRS, NoData
    outside the jurisdiction: :func:`layers.rasters.deliverable_geotiff`), the vector
    formats its density bands (isobands) as polygons. A GeoPackage's layer is named
    ``layer`` (or as ``names`` say, with its title and field aliases).
    """
    names = names or LayerNames(layer)
    if fmt == "gtiff" and layer != "kde":
        raise UnsupportedFormatError("only the kde layer is a raster (gtiff)")
    if layer == "kde":
        stored = analytic_layer(engine, layer, filters, parameters or {})
        summary = {"layer": layer, "format": fmt, "path": str(out), **stored.provenance()}
        if fmt == "gtiff":
            out.parent.mkdir(parents=True, exist_ok=True)
            area = _jurisdiction_outline(engine, filters)
            out.write_bytes(deliverable_geotiff(stored.payload, area, stored.provenance()))
            return {**summary, "features": 1}
        bands = isobands_frame(geotiff_to_surface(stored.payload))
        write_layer(bands, out, fmt, stored.provenance(), names)
        return {**summary, "features": len(bands)}
    gdf, meta = load_layer(engine, layer, filters, parameters, settings)
    write_layer(gdf, out, fmt, meta, names)
    return {"layer": layer, "format": fmt, "path": str(out), "features": len(gdf), **meta}


def _jurisdiction_outline(engine: Engine, filters: Filters) -> BaseGeometry:
    """The outline of the filtered jurisdiction (the whole service area by default): the
    union of the loaded divisions whose parent is not loaded too (WGS84)."""
    divisions = read_jurisdictions(engine, filters)
    if divisions.empty:
        raise BadFilterError(f"jurisdiction {filters.jurisdiction} is not a loaded division")
    top = divisions[~divisions["parent_adcode"].isin(divisions["adcode"])]
    return shapely.union_all(top.geometry.to_numpy())
