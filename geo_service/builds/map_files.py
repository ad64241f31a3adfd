"""What a map file holds: the map's layers for the caller's filters, read from the store.

Each layer as the items and downloads read it (:func:`~geo_service.builds.exports.
load_layer`: the public view for anonymous callers, the account's jurisdiction for the
others), encoded as GeoJSON with only the properties the map reads; the divisions within
the jurisdiction, simplified; the density surface of the heat map as one image. Drawn
by :func:`layers.map_files.build_map_file`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Final

from sqlalchemy import Engine

from geo_service.builds.exports import load_layer
from geo_service.builds.run import analytic_layer
from geo_service.core.clock import china_now
from geo_service.core.filters import Filters
from geo_service.core.settings import Settings
from geo_service.store.models import RECORD_TABLES
from geo_service.store.queries import data_version, read_jurisdictions
from layers.heat import HeatSource
from layers.map_files import MapFileData, frame_to_geojson, surface_image
from layers.maps import MapContext, map_layers
from layers.rasters import geotiff_to_surface

#: Outlines simplified to about 300 m and given to about 10 m: lines at the zooms a
#: jurisdiction is looked at (a pixel spans 300 m at zoom 9), for a fraction of the bytes.
BOUNDARY_SIMPLIFY_DEG: Final = 0.003
BOUNDARY_DIGITS: Final = 4
#: Analytic polygons (clusters, areas) simplified to about 10 m, hexagons kept whole; all
#: given to about 10 m (a hexagon of resolution 10 is 65 m across).
AREA_SIMPLIFY_DEG: Final = 0.0001
HEAT_LEGEND_TITLE: Final = "案件密度（件/平方公里）Case density"


@dataclass(frozen=True)
class MapFile:
    """A map file's data, the context it is drawn with, and how many point records it
    holds (cases on the clusters map, the planner's drawn enterprises: audited)."""

    data: MapFileData
    context: MapContext
    records: int


def map_file_data(
    engine: Engine,
    name: str,
    ctx: MapContext,
    filters: Filters,
    settings: Settings | None = None,
) -> MapFile:
    """Map ``name``'s layers for ``filters`` (already scoped to the caller), and ``ctx``
    narrowed to what the file shows: the divisions within the jurisdiction, the chosen
    industry's name only, no months to step through."""
    layers, _legend = map_layers(name, ctx)
    collections: dict[str, dict[str, object]] = {}
    heat = None
    records = len(ctx.markers)
    for layer in layers:
        if layer.style is None:  # the density surface
            stored = analytic_layer(engine, "kde", filters, layer.params)
            source = HeatSource(geotiff_to_surface(stored.payload))
            heat = surface_image(source, source.scale.legend(HEAT_LEGEND_TITLE))
            continue
        frame, _meta = load_layer(engine, layer.collection, filters, layer.params, settings)
        if layer.collection in RECORD_TABLES:
            records += len(frame)
            collections[layer.id] = frame_to_geojson(frame, layer.properties())
        else:
            simplify = None if "h3" in frame.columns else AREA_SIMPLIFY_DEG
            collections[layer.id] = frame_to_geojson(frame, layer.properties(), 4, simplify)
    divisions = read_jurisdictions(engine, filters)
    boundaries = frame_to_geojson(
        divisions, ["adcode", "name", "level"], BOUNDARY_DIGITS, BOUNDARY_SIMPLIFY_DEG
    )
    inside = {str(code) for code in divisions["adcode"]} if len(divisions) else set()
    note = (
        f"地图文件 Map file · 数据版本 data version {data_version(engine)} · "
        f"生成于 made {china_now():%Y-%m-%d %H:%M} (北京时间)"
    )
    picked = [la.params["resolution"] for la in layers if "resolution" in la.params]
    narrowed = replace(
        ctx,
        resolution=ctx.resolution or (int(picked[0]) if picked else None),  # "auto": its pick
        divisions=[d for d in ctx.divisions if d.adcode in inside],
        industries=[
            i for i in ctx.industries if filters.industry and i[0].startswith(filters.industry)
        ],
        months=(),
    )
    return MapFile(MapFileData(collections, boundaries, heat, note), narrowed, records)
