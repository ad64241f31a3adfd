"""Tiles: Mapbox Vector Tiles, GeoJSON tiles, TileJSON 3.0 and KDE heat PNG tiles.

``/tiles/{layer}/{z}/{x}/{y}.mvt|.geojson`` for every feature collection,
``/tiles/kde/{z}/{x}/{y}.png`` for the density surface, a TileJSON for each and
the heat legend. Filters and layer parameters are query parameters. Responses
carry Cache-Control and a strong ETag (304 on ``If-None-Match``), come gzip'd
from the cache when the client accepts it, and an empty tile is a 204.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import QueryParams

from geo_service.access.policy import scoped
from geo_service.api.dependencies import (
    Caller,
    caller_of,
    get_audit_log,
    get_caller,
    get_engine,
    layer_parameter_docs,
    query_doc,
)
from geo_service.api.features import COLLECTIONS, LAYER_TITLES
from geo_service.api.postgis_tiles import AGGREGATE_SUMS
from geo_service.api.tile_cache import CachedTile, TileService, is_point_records, tile_service
from geo_service.builds.registry import parse_parameters
from geo_service.builds.risk import names_enterprises
from geo_service.core.errors import BadTileError, UnknownLayerError
from geo_service.core.filters import FILTER_FIELDS, FILTER_NAMES, Filters, filters_from
from geo_service.store.models import RECORD_TABLES
from layers.heat import heat_tile, legend_png
from layers.tiles import AGGREGATE_CELL, AGGREGATED, MAX_ZOOM, tilejson
from layers.vector_tiles import EXTENT, count_features

MVT = "application/vnd.mapbox-vector-tile"
GEOJSON = "application/geo+json"
PNG = "image/png"
JSON = "application/json"
_FORMATS: Final = {"mvt": MVT, "pbf": MVT, "geojson": GEOJSON}
_MAX_AGE_S: Final = 300

#: What the main fields hold (TileJSON ``fields``: type, then this).
FIELD_LABELS: Final = {
    "h3": "H3 单元 H3 cell",
    "resolution": "H3 分辨率 H3 resolution",
    "cases": "案件数 penalty cases",
    "inspections": "检查次数 inspections",
    "problems_found": "发现问题的检查 inspections that found a problem",
    "penalty_sum": "罚款合计（元）penalties (yuan)",
    "enterprises": "污染源 register enterprises",
    "count": "案件数 cases",
    "gi_z": "Gi* z 值 z-score",
    "gi_p": "Gi* p 值 p-value",
    "gi_bin": "热点置信等级 −3…3 (±3/±2/±1: 99/95/90 % cold/hot)",
    "n_neighbors": "邻域单元 cells in the neighbourhood",
    "moran_i": "局部莫兰指数 Local Moran's I",
    "moran_z": "局部莫兰 z 值 z-score",
    "moran_p": "局部莫兰 p 值 p-value (analytic)",
    "moran_p_sim": "局部莫兰置换 p 值 pseudo p-value (permutations)",
    "quadrant": "象限 Moran scatter-plot quadrant (HH/LH/LL/HL)",
    "co_type": "聚类/异常值类型 HH/LL clusters, HL/LH outliers (FDR), not_significant",
    "co_label": "聚类/异常值 高高/低低/高低/低高/不显著",
    "category": "时空模式 pattern",
    "category_label": "时空模式 pattern (label)",
    "adcode": "行政区划代码 adcode",
    "name": "名称 name",
    "case_id": "案件编号 case number",
    "decision_date": "处罚决定日期 decided",
    "violation_type": "违法类型 violation type",
    "penalty_amount": "罚款金额（元）penalty (yuan)",
    "inspection_id": "检查编号 inspection number",
    "inspection_date": "检查日期 inspected",
    "problem_found": "是否发现问题 problem found",
    "credit_code": "统一社会信用代码 credit code (as stated)",
    "enterprise_credit_code": "关联污染源信用代码 linked register entry",
    "link_method": "关联方式 how it was linked (credit_code/name/fuzzy/ambiguous/unmatched)",
    "link_score": "关联得分 0…1 link score",
    "credit_code_flag": "信用代码校验 code check (bad_format/bad_check)",
    "supervision_category": "监管类别 supervision category (from the register)",
    "inherited": "取自名录的字段 fields taken from the register",
    "project_id": "项目编号 project number",
    "project_name": "项目名称 project name",
    "eia_approval_date": "环评批复日期 EIA approved",
    "acceptance_date": "竣工环保验收日期 accepted on completion",
    "industry_code": "行业代码 industry (GB/T 4754)",
    "problem_type_label": "问题类型 problem type",
    "size": "案件数 cases in the cluster",
    "area_km2": "面积（平方公里）area (km²)",
    "density_per_km2": "密度（件/平方公里）cases per km²",
    "records": "记录数 records",
    "dominant_label": "主要问题类型 dominant problem type",
    "score": "风险得分 0…1 risk score",
    "tier": "风险等级 high/medium/low risk tier",
    "expected_findings": "预计每年发现问题数 expected findings a year",
    "reasons": "主要风险因素 main risk components (JSON)",
    "reasons_zh": "主要风险因素 main risk components",
    "area_id": "区域编号 area id",
    "rank": "排序 rank by expected findings",
    "cells": "六边形数 cells",
    "top_enterprises": "风险最高的企业 riskiest enterprises (JSON)",
}

#: The properties of aggregated points in TileJSON ``fields`` (type: what).
AGGREGATE_FIELDS: Final = {
    AGGREGATED: "Boolean: 聚合点 true on aggregated points only (a tile over the cap)",
    "count": "Number: 聚合的记录数 records aggregated in the point",
    "penalty_sum": "Number: 罚款合计（元）penalties of the aggregated cases (yuan)",
}

router = APIRouter()


def aggregation_note(layer: str, max_points: int | None) -> str:
    """What a point layer's TileJSON says of its aggregated tiles (empty: never aggregated)."""
    if max_points is None:
        return ""
    cells = EXTENT // AGGREGATE_CELL
    sums = "".join(f", {name}" for name in AGGREGATE_SUMS.get(layer, {}))
    return (
        f" 单块瓦片内超过 {max_points:,} 条记录时显示聚合点。A tile with more than "
        f"{max_points:,} records inside it carries aggregated points instead: one per "
        f"occupied cell of a {cells}×{cells} grid over the tile ({AGGREGATE_CELL} of "
        f"{EXTENT} tile units a side), at the mean position of its records, with "
        f"{AGGREGATED}=true, count{sums}; the records themselves come in the tiles "
        "that hold fewer."
    )


def layer_parameters(layer: str, query: QueryParams) -> dict[str, Any]:
    """The layer's parameters from the query (:func:`parse_parameters`, as items,
    downloads and the command line parse them); names that are neither those nor filters
    are refused, and values equal to the layer's defaults left out (one cache entry)."""
    parsed = parse_parameters(layer, query, also=FILTER_NAMES)
    defaults = parsed.defaults()
    return {k: v for k, v in parsed.asked().items() if defaults.get(k, object()) != v}


async def tile_filters(request: Request) -> Filters:
    """The service-wide filters (:func:`filters_param`) read from the query by hand.

    An async dependency without declared parameters, for the cached-tile path:
    declared, the six filters cost ~60 µs a request in validation (~150 µs as a
    sync dependency, a worker-thread hop) where a bare endpoint takes ~90 µs.
    They are documented in OpenAPI by :data:`QUERY_DOCS`; a bad date is a 400.
    """
    return _filters(request)


def scoped_tile_filters(request: Request) -> Filters:
    """The filters of the query within the caller's scope (:func:`_filters`)."""
    return _filters(request)


def _filters(request: Request) -> Filters:
    """The filters asked for, within the caller's scope (:func:`geo_service.access.policy.scoped`),
    so that the cache is keyed by what the caller may see."""
    asked = filters_from(request.query_params)
    return scoped(get_engine(request), caller_of(request), asked)


_FILTER_DOCS = [query_doc(name, description) for name, description in FILTER_FIELDS.items()]


#: OpenAPI query parameters of the tile routes (read by hand, see :func:`tile_filters`).
QUERY_DOCS: Final = {
    "vector": [*_FILTER_DOCS, *layer_parameter_docs(COLLECTIONS)],
    "kde": [*_FILTER_DOCS, *layer_parameter_docs(["kde"])],
}


_INTEGER: Final = re.compile(r"[0-9]{1,9}")


def tile_index(z: str, x: str, y: str) -> tuple[int, int, int]:
    """Validated tile coordinates (BadTileError for impossible ones)."""
    if not all(_INTEGER.fullmatch(v) for v in (z, x, y)):
        raise BadTileError(f"tile {z}/{x}/{y}: z, x and y must be whole numbers ≥ 0")
    zi, xi, yi = int(z), int(x), int(y)
    if zi > MAX_ZOOM:
        raise BadTileError(f"zoom {zi} is beyond the maximum zoom {MAX_ZOOM}")
    if xi >= 2**zi or yi >= 2**zi:
        raise BadTileError(f"tile {zi}/{xi}/{yi}: x and y must be below 2^{zi} = {2**zi}")
    return zi, xi, yi


def _vector(layer: str) -> str:
    if layer == "kde":
        raise UnknownLayerError("kde is a raster: /tiles/kde/{z}/{x}/{y}.png")
    if layer not in COLLECTIONS:
        raise UnknownLayerError(f"no tiled layer {layer!r}; choose from {', '.join(COLLECTIONS)}")
    return layer


@dataclass(frozen=True)
class TileRequest:
    """A tile asked for: layer, format, z/x/y, the layer's parameters and the filters."""

    layer: str
    fmt: str
    z: int
    x: int
    y: int
    parameters: tuple[tuple[str, Any], ...]
    filters: Filters

    @property
    def index(self) -> tuple[int, int, int]:
        return self.z, self.x, self.y


async def tile_request(request: Request) -> TileRequest:
    """The tile of the path and query, checked (404 for a layer or format that does not
    exist, 400 for impossible coordinates, parameters or filters). One dependency read by
    hand like :func:`tile_filters` (each dependency costs a cached tile ~15 µs); the path
    parameters are documented by :data:`PATH_DOCS`.

    It is also the tile routes' access check: the caller is read here (:func:`caller_of`,
    through the scoped filters), so they need no second dependency."""
    path = request.path_params
    layer, fmt = path.get("layer", "kde"), path.get("fmt", "png")
    if "layer" in path:  # /tiles/{layer}/…: a feature layer (kde has its own route)
        if fmt not in _FORMATS:
            raise UnknownLayerError(f"no tile format {fmt!r}; use .mvt or .geojson (.png: kde)")
        _vector(layer)
    z, x, y = tile_index(path["z"], path["x"], path["y"])
    parameters = layer_parameters(layer, request.query_params)
    return TileRequest(layer, fmt, z, x, y, tuple(sorted(parameters.items())), _filters(request))


def _accepts_gzip(request: Request) -> bool:
    header = request.headers.get("accept-encoding", "")
    if "gzip" in header and ";" not in header:  # the usual "gzip, deflate, br"
        return True
    for item in header.split(","):
        name, _, params = item.strip().partition(";")
        q = params.strip().removeprefix("q=")
        if name.strip() in ("gzip", "*") and (not q or _positive(q)):
            return True
    return False


def _positive(text: str) -> bool:
    try:
        return float(text) > 0
    except ValueError:
        return False


def cached_response(request: Request, tile: CachedTile, cache_control: str) -> Response:
    """The tile with caching headers: 204 if empty, 304 if the client's copy is current,
    the stored gzip body when the client accepts gzip."""
    headers = {"Cache-Control": cache_control, "Vary": "Accept-Encoding"}
    if not tile.body:
        return Response(status_code=204, headers=headers)
    packed = tile.gzipped is not None and _accepts_gzip(request)
    headers["ETag"] = tile.etag_gzip if packed else tile.etag
    seen = {
        t.strip().removeprefix("W/") for t in request.headers.get("if-none-match", "").split(",")
    }
    if seen & {tile.etag, tile.etag_gzip, "*"}:
        return Response(status_code=304, headers=headers)
    if packed:
        headers["Content-Encoding"] = "gzip"
    body = tile.gzipped if packed and tile.gzipped is not None else tile.body
    return Response(body, media_type=tile.media_type, headers=headers)


def _names_enterprises(tile: TileRequest) -> bool:
    """Point records, or a layer naming enterprises for an account: audited, kept private."""
    if tile.layer in RECORD_TABLES:
        return True
    return tile.filters.min_count is None and names_enterprises(tile.layer, dict(tile.parameters))


def _cache_control(tile: TileRequest) -> str:
    scope = "private" if _names_enterprises(tile) else "public"  # these need an account
    return f"{scope}, max-age={_MAX_AGE_S}"


def _template(request: Request, path: str) -> str:
    """An absolute tile URL template keeping the request's query (filters, parameters)."""
    base = str(request.base_url).rstrip("/")
    query = request.url.query
    return f"{base}{path}" + (f"?{query}" if query else "")


def _path_doc(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": schema,
    }


_INDEX = (("z", f"zoom 0…{MAX_ZOOM}"), ("x", "column 0…2^z − 1"), ("y", "row 0…2^z − 1 (XYZ)"))
_INDEX_DOCS = [_path_doc(n, d, {"type": "integer", "minimum": 0}) for n, d in _INDEX]
#: OpenAPI path parameters of the tile routes (read by hand, see :func:`tile_request`).
PATH_DOCS: Final = {
    "vector": [
        _path_doc("layer", "图层 layer", {"type": "string", "enum": list(COLLECTIONS)}),
        *_INDEX_DOCS,
        _path_doc(
            "fmt", "mvt (Mapbox Vector Tile) or geojson", {"type": "string", "enum": list(_FORMATS)}
        ),
    ],
    "kde": _INDEX_DOCS,
}
Responses = dict[int | str, dict[str, Any]]
_ERRORS: Final[Responses] = {
    304: {"description": "unchanged since the ETag given in If-None-Match"},
    400: {"description": "impossible tile, bad filter or parameter: JSON {code, description}"},
    404: {"description": "no such layer or format: JSON {code, description}"},
}
_EMPTY: Final[Responses] = {204: {"description": "empty tile: nothing there for these filters"}}
_VECTOR_RESPONSES: Final[Responses] = {
    200: {"content": {MVT: {}, GEOJSON: {}}, "description": "a tile"},
    **_EMPTY,
    **_ERRORS,
}
_PNG_RESPONSES: Final[Responses] = {
    200: {"content": {PNG: {}}, "description": "a PNG"},
    **_EMPTY,
    **_ERRORS,
}
_JSON_RESPONSES: Final[Responses] = {
    200: {"content": {JSON: {}}, "description": "a JSON document"},
    **_ERRORS,
}
_KDE_DOCS: Final = {"parameters": QUERY_DOCS["kde"]}
_VECTOR_DOCS: Final = {"parameters": QUERY_DOCS["vector"]}
_KDE_TILE_DOCS: Final = {"parameters": [*PATH_DOCS["kde"], *QUERY_DOCS["kde"]]}
_VECTOR_TILE_DOCS: Final = {"parameters": [*PATH_DOCS["vector"], *QUERY_DOCS["vector"]]}


async def _tile(
    service: TileService, key: Any, media_type: str, make: Callable[[], bytes]
) -> CachedTile:
    """A cached tile straight from the event loop; a miss is made in a worker thread."""
    tile = service.peek(key)
    if tile is None:
        tile = await run_in_threadpool(service.cached, key, media_type, make)
    return tile


def _json_bytes(doc: Any) -> bytes:
    return json.dumps(doc, ensure_ascii=False, default=str).encode("utf-8")


def _raster_maxzoom(cell_m: float) -> int:
    """The zoom where a pixel is about a quarter of a surface cell (finer adds nothing)."""
    pixel_at_zoom_0_m = 2 * math.pi * 6378137.0 / 256 * math.cos(math.radians(23.0))
    return int(min(18, max(6, math.ceil(math.log2(pixel_at_zoom_0_m / cell_m)) + 2)))


#: Legend titles by the surface's units (cases, penalties, or cases per register enterprise).
_LEGEND_TITLES = {
    "cases per km²": "案件密度（件/平方公里）Case density",
    "yuan per km²": "罚款密度（元/平方公里）Penalty density",
    "cases per enterprise": "案件与污染源之比 Cases per enterprise",
}


@router.get(
    "/tiles/kde/tilejson.json",
    operation_id="kde_tilejson",
    openapi_extra=_KDE_DOCS,
    response_class=Response,
    responses=_JSON_RESPONSES,
)
async def kde_tilejson(
    request: Request,
    filters: Filters = Depends(tile_filters),
    _caller: Caller = Depends(get_caller),
) -> Response:
    parameters = layer_parameters("kde", request.query_params)
    service = tile_service(request)

    def make() -> bytes:
        heat = service.heat_layer(filters, parameters)
        doc = tilejson(
            "kde",
            _template(request, "/tiles/kde/{z}/{x}/{y}.png"),
            heat.source.bounds_lonlat,
            maxzoom=_raster_maxzoom(heat.source.surface.grid.cell_m),
            description="案件核密度热力图 Kernel density heat map",
            extra={
                "legend": _template(request, "/tiles/kde/legend.json"),
                "provenance": heat.provenance,
            },
        )
        return _json_bytes(doc)

    tile = await _tile(service, ("kde-tilejson", str(request.url), filters), JSON, make)
    return cached_response(request, tile, "no-cache")


@router.get(
    "/tiles/kde/legend.{fmt}",
    operation_id="kde_legend",
    openapi_extra=_KDE_DOCS,
    response_class=Response,
    responses={
        **_JSON_RESPONSES,
        200: {"content": {JSON: {}, PNG: {}}, "description": "the legend"},
    },
)
async def kde_legend(
    fmt: str,
    request: Request,
    filters: Filters = Depends(tile_filters),
    _caller: Caller = Depends(get_caller),
) -> Response:
    if fmt not in ("json", "png"):
        raise UnknownLayerError(f"no legend format {fmt!r}; use legend.json or legend.png")
    parameters = layer_parameters("kde", request.query_params)
    service = tile_service(request)

    def make() -> bytes:
        heat = service.heat_layer(filters, parameters)
        scale = heat.source.scale
        if fmt == "png":
            return legend_png(scale)
        title = _LEGEND_TITLES.get(scale.units, scale.units)
        return _json_bytes(scale.legend(title, provenance=heat.provenance))

    key = ("kde-legend", fmt, filters, tuple(sorted(parameters.items())))
    tile = await _tile(service, key, PNG if fmt == "png" else JSON, make)
    return cached_response(request, tile, f"public, max-age={_MAX_AGE_S}")


@router.get(
    "/tiles/kde/{z}/{x}/{y}.png",
    operation_id="kde_tile",
    openapi_extra=_KDE_TILE_DOCS,
    response_class=Response,
    responses=_PNG_RESPONSES,
)
async def kde_tile(
    request: Request,
    tile: TileRequest = Depends(tile_request),  # reads the caller: the access check
) -> Response:
    return await heat_tile_response(request, tile)


async def heat_tile_response(request: Request, tile: TileRequest) -> Response:
    """The heat PNG of ``tile`` (``/tiles/kde/…`` and the OGC API - Tiles route)."""
    service = tile_service(request)

    def make() -> bytes:
        source = service.heat_layer(tile.filters, dict(tile.parameters)).source
        return heat_tile(source, *tile.index)

    cached = await _tile(service, tile, PNG, make)
    return cached_response(request, cached, f"public, max-age={_MAX_AGE_S}")


@router.get(
    "/tiles/{layer}/tilejson.json",
    operation_id="tilejson",
    openapi_extra=_VECTOR_DOCS,
    response_class=Response,
    responses=_JSON_RESPONSES,
)
async def vector_tilejson(
    layer: str,
    request: Request,
    filters: Filters = Depends(tile_filters),
    _caller: Caller = Depends(get_caller),
) -> Response:
    parameters = layer_parameters(_vector(layer), request.query_params)
    service = tile_service(request)

    def make() -> bytes:
        loaded = service.layer_summary(layer, filters, parameters)
        fields = {
            k: f"{t}: {FIELD_LABELS[k]}" if k in FIELD_LABELS else t
            for k, t in loaded.fields.items()
        }
        title = LAYER_TITLES.get(layer, layer)
        note = ""
        if is_point_records(layer, parameters) and service.max_points is not None:
            note = aggregation_note(layer, service.max_points)
            names = [AGGREGATED, "count", *AGGREGATE_SUMS.get(layer, {})]
            fields.update({name: AGGREGATE_FIELDS[name] for name in names})
        path = f"/tiles/{layer}/{{z}}/{{x}}/{{y}}"
        doc = tilejson(
            layer,
            _template(request, f"{path}.mvt"),
            loaded.bounds,
            maxzoom=16 if layer in RECORD_TABLES else 14,
            fields=fields,
            description=title,
            layer_description=title + note,
            extra={
                "geojson_tiles": [_template(request, f"{path}.geojson")],
                "provenance": loaded.provenance,
            },
        )
        return _json_bytes(doc)

    tile = await _tile(service, ("tilejson", str(request.url), filters), JSON, make)
    return cached_response(request, tile, "no-cache")


@router.get(
    "/tiles/{layer}/{z}/{x}/{y}.{fmt}",
    operation_id="vector_tile",
    openapi_extra=_VECTOR_TILE_DOCS,
    response_class=Response,
    responses=_VECTOR_RESPONSES,
)
async def feature_tile(
    request: Request,
    tile: TileRequest = Depends(tile_request),  # reads the caller: the access check
) -> Response:
    return await feature_tile_response(request, tile)


async def feature_tile_response(request: Request, tile: TileRequest) -> Response:
    """The feature tile ``tile`` with its caching headers, audited when it hands out point
    records or names enterprises (``/tiles/{layer}/…`` and the OGC API - Tiles route)."""
    service = tile_service(request)

    def make() -> bytes:
        return service.feature_tile(
            tile.layer, tile.fmt, tile.filters, dict(tile.parameters), tile.index
        )

    cached = await _tile(service, tile, _FORMATS[tile.fmt], make)
    if cached.body and _names_enterprises(tile):  # point records handed out: audited
        await run_in_threadpool(
            get_audit_log(request).record,
            caller_of(request),
            "tile",
            request.url.path,
            dict(request.query_params),
            tile_features(cached.body, tile.fmt),
        )
    return cached_response(request, cached, _cache_control(tile))


def tile_features(body: bytes, fmt: str) -> int:
    """Features in an encoded tile (the audit's record count: an aggregated point is one)."""
    if fmt == "geojson":
        return len(json.loads(body).get("features", []))
    return count_features(body)
