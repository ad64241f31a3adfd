"""Offline tile packages of a layer (``/downloads/{layer}.mbtiles|.pmtiles``): its tiles.

A package holds exactly the tiles ``/tiles/{layer}/{z}/{x}/{y}.mvt`` serves the caller
— the same filters within the caller's scope, the same layer parameters, the same
disclosure for anonymous callers — over the zoom range asked for, for every tile
covering the bounds of the jurisdiction asked for (the caller's own by default). Empty
tiles are left out. The files are written by :mod:`layers.tile_packages`; they are named,
audited and described (``X-Provenance``) as the other downloads are
(:mod:`geo_service.api.downloads`, whose catch-all route comes after these).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from sqlalchemy import Engine
from starlette.datastructures import QueryParams

from geo_service.access.audit import AuditLog
from geo_service.api.dependencies import (
    Caller,
    get_audit_log,
    get_caller,
    get_engine,
    layer_parameter_docs,
    scoped_filters,
)
from geo_service.api.downloads import _disposition, _filename, _provenance_header
from geo_service.api.features import COLLECTIONS, LAYER_TITLES
from geo_service.api.ogc_tiles import LAYER_MAX_ZOOM, RECORD_MAX_ZOOM
from geo_service.api.tile_cache import TileService, is_point_records, tile_service
from geo_service.api.tiles import TileRequest, layer_parameters
from geo_service.builds.risk import names_enterprises
from geo_service.core.errors import NotFoundError, UnknownLayerError
from geo_service.core.filters import Filters
from geo_service.store.models import RECORD_TABLES
from geo_service.store.queries import jurisdiction_bounds
from layers.tile_packages import (
    PackageInfo,
    TileIndex,
    ZoomRange,
    check_tile_count,
    covering_tiles,
    mbtiles_bytes,
    pmtiles_bytes,
)
from layers.vector_tiles import count_features

#: The zoom range of a package unless asked: a county to street level.
DEFAULT_MINZOOM, DEFAULT_MAXZOOM = 5, 12
#: The zoom parameters, read here and not as layer parameters.
ZOOM_NAMES: Final = ("minzoom", "maxzoom")
#: Package extension → media type.
PACKAGE_TYPES: Final = {"mbtiles": "application/vnd.sqlite3", "pmtiles": "application/vnd.pmtiles"}
ATTRIBUTION: Final = "生态环境执法空间分析服务 geo-service"

router = APIRouter()


@dataclass(frozen=True)
class PackageRequest:
    """A package asked for: layer, zoom range, the layer's parameters (non-default, as
    the tile routes key them) and the filters within the caller's scope."""

    layer: str
    zooms: ZoomRange
    parameters: tuple[tuple[str, Any], ...]
    filters: Filters

    def tile(self, index: TileIndex) -> TileRequest:
        """The tile route's request of one tile of the package (its cache key)."""
        return TileRequest(self.layer, "mvt", *index, self.parameters, self.filters)


@dataclass(frozen=True)
class Package:
    """A written package: its bytes, the non-empty tiles and the features in them, and
    the provenance of the layer."""

    data: bytes
    tiles: int
    features: int
    provenance: dict[str, Any]


def package_request(
    layer: str, query: QueryParams, filters: Filters, minzoom: int, maxzoom: int
) -> PackageRequest:
    """The package of the query, checked: its layer parameters as the tile routes parse
    them (400 for another layer's), the zoom range within the layer's tile set (400)."""
    deepest = RECORD_MAX_ZOOM if layer in RECORD_TABLES else LAYER_MAX_ZOOM
    zooms = ZoomRange(minzoom, maxzoom).check(deepest)
    rest = QueryParams([(k, v) for k, v in query.multi_items() if k not in ZOOM_NAMES])
    parameters = layer_parameters(layer, rest)
    return PackageRequest(layer, zooms, tuple(sorted(parameters.items())), filters)


def package_tiles(
    service: TileService, asked: PackageRequest, bounds: tuple[float, float, float, float]
) -> dict[TileIndex, bytes]:
    """The non-empty MVT tiles of the package, as the tile route makes them (from its
    cache when there). Of point records, a tile whose parent is empty is not asked
    for: a point in a tile's buffered extent is in its parent's too."""
    parameters = dict(asked.parameters)
    points = is_point_records(asked.layer, parameters)
    tiles: dict[TileIndex, bytes] = {}
    empty: set[TileIndex] = set()
    for z, x, y in covering_tiles(bounds, asked.zooms):
        if points and (z - 1, x // 2, y // 2) in empty:
            empty.add((z, x, y))
            continue
        cached = service.peek(asked.tile((z, x, y)))
        if cached is not None:
            body = cached.body
        else:
            body = service.feature_tile(asked.layer, "mvt", asked.filters, parameters, (z, x, y))
        if body:
            tiles[z, x, y] = body
        else:
            empty.add((z, x, y))
    return tiles


def build_package(service: TileService, engine: Engine, asked: PackageRequest, ext: str) -> Package:
    """The package file (``mbtiles`` or ``pmtiles``) of the request.

    The layer is read first (401 for point records without an account, as the tiles);
    then the tiles are counted (400 beyond :data:`layers.tile_packages.MAX_PACKAGE_TILES`)
    and made. 404 when no tile holds data.
    """
    summary = service.layer_summary(asked.layer, asked.filters, dict(asked.parameters))
    bounds = jurisdiction_bounds(engine, asked.filters)
    check_tile_count(bounds, asked.zooms)
    tiles = package_tiles(service, asked, bounds)
    if not tiles:
        raise NotFoundError(
            f"所选范围内 {asked.layer} 没有数据，离线包为空。No tile of {asked.layer} holds "
            f"data at zoom {asked.zooms.minzoom}–{asked.zooms.maxzoom} for these filters."
        )
    title = LAYER_TITLES.get(asked.layer, asked.layer)
    info = PackageInfo(
        asked.layer,
        title,
        bounds,
        asked.zooms,
        summary.fields,
        description=f"{title} {json.dumps(asked.filters.as_dict(), ensure_ascii=False)}",
        attribution=ATTRIBUTION,
    )
    data = mbtiles_bytes(tiles, info) if ext == "mbtiles" else pmtiles_bytes(tiles, info)
    features = sum(count_features(body) for body in tiles.values())
    return Package(data, len(tiles), features, summary.provenance)


#: OpenAPI query parameters of the packages: the tiled layers' parameters.
_PARAMETER_DOCS = layer_parameter_docs(COLLECTIONS)


def _answers(ext: str) -> dict[int | str, dict[str, Any]]:
    """The 200 answer of a package route: the file in its media type."""
    binary = {"schema": {"type": "string", "format": "binary"}}
    return {200: {"description": f"the {ext} package", "content": {PACKAGE_TYPES[ext]: binary}}}


def _tile_package(
    ext: str,
    layer: str,
    request: Request,
    filters: Filters,
    zooms: tuple[int, int],
    engine: Engine,
    caller: Caller,
    audit_log: AuditLog,
) -> Response:
    """The layer's tiles as the tile routes serve them to the caller, in one package."""
    if layer not in COLLECTIONS:
        raise UnknownLayerError(f"no tiled layer {layer!r}; choose from {', '.join(COLLECTIONS)}")
    asked = package_request(layer, request.query_params, filters, *zooms)
    package = build_package(tile_service(request), engine, asked, ext)
    chosen = {**dict(asked.parameters), "z": f"{zooms[0]}-{zooms[1]}"}
    if layer in RECORD_TABLES or names_enterprises(layer, dict(asked.parameters)):
        audit_log.record(
            caller,
            "download",
            f"/downloads/{layer}.{ext}",
            {**filters.as_dict(), **chosen, "tiles": package.tiles},
            package.features,
        )
    meta = {**package.provenance, "tiles": package.tiles, "features": package.features}
    headers = {
        "Content-Disposition": _disposition(_filename(layer, ext, filters, chosen)),
        "X-Provenance": _provenance_header(meta),
    }
    return Response(package.data, media_type=PACKAGE_TYPES[ext], headers=headers)


_MINZOOM = Query(DEFAULT_MINZOOM, ge=0, le=22, description="最小缩放级别 lowest zoom")
_MAXZOOM = Query(
    DEFAULT_MAXZOOM, ge=0, le=22, description="最大缩放级别 highest zoom (records ≤16, layers ≤14)"
)


@router.get(
    "/downloads/{layer}.mbtiles",
    operation_id="download_mbtiles",
    response_class=Response,
    responses=_answers("mbtiles"),
    openapi_extra={"parameters": _PARAMETER_DOCS},
)
def download_mbtiles(
    layer: str,
    request: Request,
    minzoom: int = _MINZOOM,
    maxzoom: int = _MAXZOOM,
    filters: Filters = Depends(scoped_filters),
    engine: Engine = Depends(get_engine),
    caller: Caller = Depends(get_caller),
    audit_log: AuditLog = Depends(get_audit_log),
) -> Response:
    """离线瓦片包 A feature layer's vector tiles as MBTiles 1.3 (QGIS and GDAL open it)."""
    zooms = (minzoom, maxzoom)
    return _tile_package("mbtiles", layer, request, filters, zooms, engine, caller, audit_log)


@router.get(
    "/downloads/{layer}.pmtiles",
    operation_id="download_pmtiles",
    response_class=Response,
    responses=_answers("pmtiles"),
    openapi_extra={"parameters": _PARAMETER_DOCS},
)
def download_pmtiles(
    layer: str,
    request: Request,
    minzoom: int = _MINZOOM,
    maxzoom: int = _MAXZOOM,
    filters: Filters = Depends(scoped_filters),
    engine: Engine = Depends(get_engine),
    caller: Caller = Depends(get_caller),
    audit_log: AuditLog = Depends(get_audit_log),
) -> Response:
    """离线瓦片包 A feature layer's vector tiles as PMTiles v3 (GDAL ≥ 3.8, web maps)."""
    zooms = (minzoom, maxzoom)
    return _tile_package("pmtiles", layer, request, filters, zooms, engine, caller, audit_log)
