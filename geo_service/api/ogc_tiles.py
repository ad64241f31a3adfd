"""OGC API - Tiles (1.0) over the service's tiles, and a Mapbox GL style per tile layer.

``/tileMatrixSets`` and ``/tileMatrixSets/WebMercatorQuad`` (from ``morecantile``);
``/collections/{collectionId}/tiles`` lists a collection's tile sets (``vector`` for every
feature collection, ``map`` for the KDE heat surface, ``kde``), and
``/collections/{collectionId}/tiles/WebMercatorQuad`` describes one: its tile matrix
set, the tile URL template (``{tileMatrix}/{tileRow}/{tileCol}``), the layer and its
fields. The tiles themselves are the ``/tiles/…`` ones (:mod:`geo_service.api.tiles`):
the same scope, the same public view for anonymous callers, the same cache and audit.
``/styles/{layer}.json`` is a Mapbox GL style drawing a tile layer in the maps' colours.

A vector tile set's metadata also carries ``bounds`` and ``json``, the members of
tippecanoe's ``metadata.json`` that GDAL's MVT driver reads: Debian's GDAL 3.6 cannot
read vector tiles through its OGCAPI driver (that build leaves the code out: see
``docs/gis.md``), but its MVT driver reads the ``/tiles/{layer}/{z}/{x}/{y}.mvt`` tiles
with this document as ``METADATA_FILE``.
"""

from __future__ import annotations

import json
from typing import Any, Final

import morecantile
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import QueryParams

from geo_service.api.dependencies import Caller, get_caller
from geo_service.api.features import COLLECTIONS, LAYER_TITLES
from geo_service.api.tile_cache import is_point_records, tile_service
from geo_service.api.tile_links import HEAT
from geo_service.api.tiles import (
    FIELD_LABELS,
    GEOJSON,
    JSON,
    MVT,
    PNG,
    QUERY_DOCS,
    TileRequest,
    _raster_maxzoom,
    feature_tile_response,
    heat_tile_response,
    layer_parameters,
    scoped_tile_filters,
    tile_index,
)
from geo_service.builds.risk import names_enterprises
from geo_service.core.errors import AuthenticationRequiredError, UnknownLayerError
from geo_service.core.filters import Filters
from geo_service.store.models import RECORD_TABLES
from layers.styles import mapbox_style

TMS_ID: Final = "WebMercatorQuad"
WEB_MERCATOR_QUAD: Final = morecantile.tms.get(TMS_ID)
CRS84: Final = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
TILING_SCHEME: Final = "http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme"
STYLE: Final = "application/vnd.mapbox.style+json"
#: Collections with tiles: every feature collection (vector) and the heat surface (map).
TILED: Final = (*COLLECTIONS, HEAT)
_VECTOR_FORMATS: Final = {"mvt": MVT, "geojson": GEOJSON}
#: The deepest tile matrix of a tile set: point records 16, the rest 14 (as TileJSON says).
RECORD_MAX_ZOOM, LAYER_MAX_ZOOM = 16, 14

router = APIRouter()


def _tiled(collection: str) -> str:
    if collection not in TILED:
        raise UnknownLayerError(f"no tiled collection {collection!r}; choose from {TILED}")
    return collection


def _tms(tile_matrix_set: str) -> morecantile.TileMatrixSet:
    if tile_matrix_set != TMS_ID:
        raise UnknownLayerError(f"no tile matrix set {tile_matrix_set!r}; use {TMS_ID}")
    return WEB_MERCATOR_QUAD


def _query(request: Request) -> QueryParams:
    """The request's query without ``f`` (the format, not a filter or layer parameter)."""
    return QueryParams([(k, v) for k, v in request.query_params.multi_items() if k != "f"])


def _suffix(query: QueryParams, fmt: str | None = None) -> str:
    items = ([("f", fmt)] if fmt else []) + list(query.multi_items())
    return ("?" + str(QueryParams(items))) if items else ""


def checked_disclosure(layer: str, filters: Filters, parameters: dict[str, Any]) -> None:
    """Point records and layers naming enterprises need an account (as their tiles do)."""
    if filters.min_count is None:
        return
    if layer in RECORD_TABLES or names_enterprises(layer, parameters):
        raise AuthenticationRequiredError(f"{layer} names enterprises: it needs an account")


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _json(doc: Any) -> Response:
    return Response(
        content=json.dumps(doc, ensure_ascii=False, default=str),
        media_type=JSON,
        headers={"Cache-Control": "no-cache"},
    )


@router.get("/tileMatrixSets", operation_id="tile_matrix_sets", response_class=Response)
def tile_matrix_sets(request: Request, _caller: Caller = Depends(get_caller)) -> Response:
    tms = WEB_MERCATOR_QUAD
    entry = {
        "id": TMS_ID,
        "title": tms.title,
        "uri": tms.uri,
        "crs": tms.model_dump(mode="json")["crs"],
        "links": [
            {"href": f"{_base(request)}/tileMatrixSets/{TMS_ID}", "rel": "self", "type": JSON}
        ],
    }
    return _json({"tileMatrixSets": [entry]})


@router.get(
    "/tileMatrixSets/{tile_matrix_set}", operation_id="tile_matrix_set", response_class=Response
)
def tile_matrix_set(tile_matrix_set: str, _caller: Caller = Depends(get_caller)) -> Response:
    return _json(tms_document(_tms(tile_matrix_set)))


def tms_document(tms: morecantile.TileMatrixSet) -> dict[str, Any]:
    """The tile matrix set in the 2.0 encoding (morecantile's), with the 1.0 members beside
    it (``type``, ``identifier``, ``supportedCRS``, ``boundingBox``, ``tileMatrix``): GDAL
    before 3.7 (Debian 12's 3.6) reads only those, later GDAL reads the 2.0 ones."""
    doc: dict[str, Any] = tms.model_dump(mode="json", exclude_none=True)
    left, bottom, right, top = tms.xy_bbox
    doc.update(
        {
            "type": "TileMatrixSetType",
            "identifier": tms.id,
            "supportedCRS": doc["crs"],
            "boundingBox": {
                "type": "BoundingBoxType",
                "crs": doc["crs"],
                "lowerCorner": [left, bottom],
                "upperCorner": [right, top],
            },
            "tileMatrix": [
                {
                    "type": "TileMatrixType",
                    "identifier": matrix["id"],
                    "scaleDenominator": matrix["scaleDenominator"],
                    "topLeftCorner": matrix["pointOfOrigin"],
                    "tileWidth": matrix["tileWidth"],
                    "tileHeight": matrix["tileHeight"],
                    "matrixWidth": matrix["matrixWidth"],
                    "matrixHeight": matrix["matrixHeight"],
                }
                for matrix in doc["tileMatrices"]
            ],
        }
    )
    return doc


def _tileset_entry(base: str, collection: str, suffix: str) -> dict[str, Any]:
    kind = "map" if collection == HEAT else "vector"
    return {
        "title": LAYER_TITLES.get(collection, collection),
        "dataType": kind,
        "crs": WEB_MERCATOR_QUAD.model_dump(mode="json")["crs"],
        "tileMatrixSetURI": WEB_MERCATOR_QUAD.uri,
        "links": [
            {
                "href": f"{base}/collections/{collection}/tiles/{TMS_ID}{suffix}",
                "rel": "self",
                "type": JSON,
                "title": f"{TMS_ID} 瓦片集 tile set",
            },
            {"href": f"{base}/tileMatrixSets/{TMS_ID}", "rel": TILING_SCHEME, "type": JSON},
        ],
    }


@router.get(
    "/collections/{collection_id}/tiles",
    operation_id="collection_tilesets",
    openapi_extra={"parameters": QUERY_DOCS["vector"]},
    response_class=Response,
)
def collection_tilesets(
    collection_id: str, request: Request, _caller: Caller = Depends(get_caller)
) -> Response:
    layer = _tiled(collection_id)
    query = _query(request)
    filters = scoped_tile_filters(request)
    checked_disclosure(layer, filters, layer_parameters(layer, query))
    base, suffix = _base(request), _suffix(query)
    return _json(
        {
            "links": [
                {"href": f"{base}/collections/{layer}/tiles{suffix}", "rel": "self", "type": JSON}
            ],
            "tilesets": [_tileset_entry(base, layer, suffix)],
        }
    )


def _limits(bounds: tuple[float, float, float, float], maxzoom: int) -> list[dict[str, Any]]:
    """The tiles over the layer's extent at each tile matrix (``tileMatrixSetLimits``)."""
    west, south, east, north = bounds
    limits = []
    for z in range(maxzoom + 1):
        ul = WEB_MERCATOR_QUAD.tile(west, north, z)
        lr = WEB_MERCATOR_QUAD.tile(east, south, z)
        limits.append(
            {
                "tileMatrix": str(z),
                "minTileRow": ul.y,
                "maxTileRow": lr.y,
                "minTileCol": ul.x,
                "maxTileCol": lr.x,
            }
        )
    return limits


def _fields_schema(fields: dict[str, str]) -> dict[str, Any]:
    kinds = {"Number": "number", "Boolean": "boolean", "String": "string"}
    return {
        "type": "object",
        "properties": {
            name: {
                "type": kinds.get(kind, "string"),
                **({"description": FIELD_LABELS[name]} if name in FIELD_LABELS else {}),
            }
            for name, kind in fields.items()
        },
    }


def mvt_metadata(
    layer: str, fields: dict[str, str], bounds: tuple[float, float, float, float], points: bool
) -> dict[str, str]:
    """What GDAL's MVT driver reads of a tile directory's ``metadata.json`` (tippecanoe's
    members): ``bounds`` (``"west,south,east,north"``, degrees) and ``json``, a JSON
    string with ``vector_layers`` (the fields: ``Number``, ``String``, ``Boolean``) and
    ``tilestats`` (the geometry type).

    Examples
    --------
    >>> meta = mvt_metadata("cases", {"n": "Number"}, (104.5, 21.0, 112.0, 26.5), True)
    >>> meta["bounds"], json.loads(meta["json"])["vector_layers"][0]["fields"]
    ('104.5,21.0,112.0,26.5', {'n': 'Number'})
    """
    geometry = "Point" if points else "Polygon"
    content = {
        "vector_layers": [{"id": layer, "fields": dict(fields)}],
        "tilestats": {"layerCount": 1, "layers": [{"layer": layer, "geometry": geometry}]},
    }
    return {"bounds": ",".join(str(v) for v in bounds), "json": json.dumps(content)}


def _tileset_doc(request: Request, layer: str, query: QueryParams) -> dict[str, Any]:
    """The tile set metadata of ``layer`` (made in a worker thread: it may load the layer)."""
    service = tile_service(request)
    filters = scoped_tile_filters(request)
    parameters = layer_parameters(layer, query)
    checked_disclosure(layer, filters, parameters)
    base, suffix = _base(request), _suffix(query)
    doc = _tileset_entry(base, layer, suffix)
    template = f"{base}/collections/{layer}/tiles/{TMS_ID}/{{tileMatrix}}/{{tileRow}}/{{tileCol}}"
    links: list[dict[str, Any]] = doc["links"]
    links.append({"href": f"{base}/collections/{layer}", "rel": "collection", "type": JSON})
    if layer == HEAT:
        heat = service.heat_layer(filters, parameters)
        bounds = heat.source.bounds_lonlat
        maxzoom = _raster_maxzoom(heat.source.surface.grid.cell_m)
        links.append(
            {"href": template + _suffix(query), "rel": "item", "type": PNG, "templated": True}
        )
        layers: list[dict[str, Any]] = [
            {"id": layer, "title": LAYER_TITLES[layer], "dataType": "map"}
        ]
        provenance = heat.provenance
        extra: dict[str, str] = {}
    else:
        summary = service.layer_summary(layer, filters, parameters)
        bounds, provenance = summary.bounds, summary.provenance
        points = is_point_records(layer, parameters)
        maxzoom = RECORD_MAX_ZOOM if layer in RECORD_TABLES else LAYER_MAX_ZOOM
        for fmt, media in _VECTOR_FORMATS.items():
            href = template + _suffix(query, fmt)
            links.append({"href": href, "rel": "item", "type": media, "templated": True})
        links.append(
            {"href": f"{base}/styles/{layer}.json{suffix}", "rel": "stylesheet", "type": STYLE}
        )
        layers = [
            {
                "id": layer,
                "title": LAYER_TITLES.get(layer, layer),
                "dataType": "vector",
                "geometryDimension": 0 if points else 2,
                "minTileMatrix": "0",
                "maxTileMatrix": str(maxzoom),
                "propertiesSchema": _fields_schema(summary.fields),
            }
        ]
        extra = mvt_metadata(layer, summary.fields, bounds, points)
    west, south, east, north = bounds
    doc.update(
        {
            "minTileMatrix": "0",
            "maxTileMatrix": str(maxzoom),
            "boundingBox": {"lowerLeft": [west, south], "upperRight": [east, north], "crs": CRS84},
            "tileMatrixSetLimits": _limits(bounds, maxzoom),
            "layers": layers,
            "provenance": provenance,
            **extra,
        }
    )
    return doc


@router.get(
    "/collections/{collection_id}/tiles/{tile_matrix_set}",
    operation_id="collection_tileset",
    openapi_extra={"parameters": QUERY_DOCS["vector"]},
    response_class=Response,
)
async def collection_tileset(
    collection_id: str,
    tile_matrix_set: str,
    request: Request,
    _caller: Caller = Depends(get_caller),
) -> Response:
    layer = _tiled(collection_id)
    _tms(tile_matrix_set)
    doc = await run_in_threadpool(_tileset_doc, request, layer, _query(request))
    return _json(doc)


@router.get(
    "/collections/{collection_id}/tiles/{tile_matrix_set}/{tile_matrix}/{tile_row}/{tile_col}",
    operation_id="collection_tile",
    openapi_extra={"parameters": QUERY_DOCS["vector"]},
    response_class=Response,
)
async def collection_tile(
    collection_id: str,
    tile_matrix_set: str,
    tile_matrix: str,
    tile_row: str,
    tile_col: str,
    request: Request,
    f: str | None = None,
    _caller: Caller = Depends(get_caller),
) -> Response:
    """A tile of the tile set: MVT (``f=geojson``: GeoJSON) of a feature collection, PNG of
    the heat surface; the ``/tiles/…`` tile of the same layer, filters and parameters."""
    layer = _tiled(collection_id)
    _tms(tile_matrix_set)
    if layer == HEAT:
        fmt = f or "png"
        if fmt != "png":
            raise UnknownLayerError(f"no tile format {fmt!r} for kde; use f=png")
    else:
        fmt = f or "mvt"
        if fmt not in _VECTOR_FORMATS:
            raise UnknownLayerError(f"no tile format {fmt!r}; use f=mvt or f=geojson")
    z, x, y = tile_index(tile_matrix, tile_col, tile_row)
    parameters = layer_parameters(layer, _query(request))
    tile = TileRequest(
        layer, fmt, z, x, y, tuple(sorted(parameters.items())), scoped_tile_filters(request)
    )
    if layer == HEAT:
        return await heat_tile_response(request, tile)
    return await feature_tile_response(request, tile)


@router.get("/styles/{layer}.json", operation_id="tile_style", response_class=Response)
async def tile_style(
    layer: str, request: Request, _caller: Caller = Depends(get_caller)
) -> Response:
    """A Mapbox GL style (v8) of a vector tile layer, in the colours of the service's maps,
    reading the tiles of the same filters and parameters."""
    if layer not in COLLECTIONS:
        raise UnknownLayerError(f"no vector tile layer {layer!r}; choose from {COLLECTIONS}")
    query = _query(request)
    service = tile_service(request)
    filters = scoped_tile_filters(request)
    parameters = layer_parameters(layer, query)
    checked_disclosure(layer, filters, parameters)
    summary = await run_in_threadpool(service.layer_summary, layer, filters, parameters)
    template = f"{_base(request)}/tiles/{layer}/{{z}}/{{x}}/{{y}}.mvt{_suffix(query)}"
    maxzoom = RECORD_MAX_ZOOM if layer in RECORD_TABLES else LAYER_MAX_ZOOM
    doc = mapbox_style(layer, LAYER_TITLES.get(layer, layer), template, summary.bounds, maxzoom)
    return Response(
        json.dumps(doc, ensure_ascii=False), media_type=STYLE, headers={"Cache-Control": "no-cache"}
    )
