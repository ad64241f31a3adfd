"""OGC API - Features (Part 1 core): landing, conformance, collections and their items."""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import geopandas as gpd
import h3
import msgspec
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from shapely.geometry import box
from sqlalchemy import JSON, Boolean, Date, Engine, Float, Integer, String

from geo_service.access.audit import Answer, AuditLog, audit_before_answer
from geo_service.api.crs import CRS84, SUPPORTED, bbox_to_crs84, parse_crs, to_response_crs
from geo_service.api.dependencies import (
    MAX_LIMIT,
    Caller,
    bbox_param,
    get_audit_log,
    get_caller,
    get_engine,
    scoped_filters,
)
from geo_service.api.enterprises import file_link
from geo_service.api.limits import check_bbox
from geo_service.api.page_threads import make_page
from geo_service.api.tile_links import CONFORMANCE as TILES_CONFORMANCE
from geo_service.api.tile_links import tileset_links
from geo_service.builds.exports import load_layer
from geo_service.builds.parameters import LayerParameters
from geo_service.builds.registry import parse_parameters
from geo_service.builds.risk import names_enterprises
from geo_service.builds.run import ANALYTIC_LAYERS
from geo_service.core.cql2 import CONFORMANCE as FILTER_CONFORMANCE
from geo_service.core.cql2 import (
    CqlFilter,
    Queryable,
    SortKey,
    parse_filter,
    parse_properties,
    parse_sortby,
)
from geo_service.core.cql2_frames import filter_frame
from geo_service.core.errors import BadFilterError, UnknownLayerError
from geo_service.core.filters import FILTER_NAMES, Filters
from geo_service.store.models import RECORD_TABLES
from geo_service.store.queries import (
    RECORD_KEYS,
    PageRequest,
    extent,
    read_records_page,
    read_records_rows,
    record_queryables,
)
from layers.files import to_geojson_dict

GEOJSON = "application/geo+json"
SCHEMA = "application/schema+json"
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
    *FILTER_CONFORMANCE,
    *TILES_CONFORMANCE,
]
COLLECTIONS = ("jurisdictions", *RECORD_TABLES, *(n for n in ANALYTIC_LAYERS if n != "kde"))
#: Names of the layers people see (collection titles, TileJSON, the landing page).
LAYER_TITLES = {
    "jurisdictions": "行政区划 Jurisdictions",
    "enterprises": "污染源 Pollution sources",
    "cases": "行政处罚案件 Penalty cases",
    "inspections": "现场检查 Inspection findings",
    "projects": "建设项目 Construction projects",
    "hexagons": "H3 六边形汇总 Hexagon aggregates",
    "kde": "案件核密度 Case density (KDE)",
    "hotspots": "热点 Gi* hot spots",
    "emerging-hotspots": "时空热点 Emerging hot spots",
    "local-moran": "聚类和异常值 Cluster and outlier analysis (Local Moran's I)",
    "clusters": "聚集区 Clusters",
    "problem-types": "问题类型 Problem types",
    "commonalities": "问题类型共性与差异 Commonalities and differences",
    "risk": "风险分级 Risk tiers",
    "priority-areas": "重点检查区域 Priority areas",
}
#: Point records are counted up to this many for ``numberMatched``; a selection of more
#: leaves it out (OGC API - Features makes it optional) and pages go on by ``next`` links.
COUNT_LIMIT = 100_000
_ID_COLUMN = {
    "jurisdictions": "adcode",
    **RECORD_KEYS,
    "hexagons": "h3",
    "hotspots": "h3",
    "emerging-hotspots": "h3",
    "local-moran": "h3",
    "clusters": "cluster",
    "problem-types": "adcode",
    "commonalities": "adcode",
    "risk": "h3",
    "priority-areas": "area_id",
}

router = APIRouter()
#: The largest ``offset`` a page may ask for (what a 64-bit OFFSET holds).
MAX_OFFSET = 2**63 - 1


def _collection(request: Request, name: str, engine: Engine) -> dict[str, Any]:
    base = str(request.base_url).rstrip("/")
    return {
        "id": name,
        "title": LAYER_TITLES.get(name, name),
        "extent": extent(engine, name),
        "itemType": "feature",
        "crs": list(SUPPORTED),
        "storageCrs": CRS84,
        "links": [
            {"href": f"{base}/collections/{name}", "rel": "self", "type": "application/json"},
            {"href": f"{base}/collections/{name}/items", "rel": "items", "type": GEOJSON},
            *(
                {"href": f"{base}/collections/{name}/queryables", "rel": rel, "type": SCHEMA}
                for rel in ("http://www.opengis.net/def/rel/ogc/1.0/queryables", "queryables")
            ),
            *tileset_links(base, name),
        ],
    }


def _check(name: str) -> None:
    if name not in COLLECTIONS:
        raise UnknownLayerError(f"no collection {name!r}; see /collections")


async def datetime_param(
    datetime: str | None = Query(None, description="date or start/end"),
) -> tuple[dt.date | None, dt.date | None]:
    """An OGC ``datetime``: one date, or an interval with ``..`` for an open end (async:
    parsing alone, no worker thread to hop to)."""
    if datetime is None:
        return None, None
    parts = datetime.split("/")
    try:
        dates = [None if p in ("", "..") else dt.date.fromisoformat(p[:10]) for p in parts]
    except ValueError:
        raise BadFilterError(f"datetime {datetime!r} is not a date or an interval") from None
    if len(dates) == 1:
        return dates[0], dates[0]
    if len(dates) == 2:
        return dates[0], dates[1]
    raise BadFilterError(f"datetime {datetime!r} is not a date or an interval")


@router.get("/conformance", operation_id="conformance")
def conformance(_caller: Caller = Depends(get_caller)) -> dict[str, list[str]]:
    return {"conformsTo": CONFORMANCE}


@router.get("/collections", operation_id="collections")
def collections(
    request: Request,
    engine: Engine = Depends(get_engine),
    _caller: Caller = Depends(get_caller),
) -> dict[str, Any]:
    self_link = {"href": str(request.url), "rel": "self", "type": "application/json"}
    return {
        "collections": [_collection(request, n, engine) for n in COLLECTIONS],
        "links": [self_link],
    }


@router.get("/collections/{collection_id}", operation_id="collection")
def collection(
    collection_id: str,
    request: Request,
    engine: Engine = Depends(get_engine),
    _caller: Caller = Depends(get_caller),
) -> dict[str, Any]:
    _check(collection_id)
    return _collection(request, collection_id, engine)


def _id_column(name: str, frame: gpd.GeoDataFrame) -> str:
    """The property whose value is a feature's id: a county layer's (``unit=county``) its
    adcode, an enterprise's risk its credit code."""
    for column in (_ID_COLUMN[name], "credit_code", "adcode"):
        if column in frame.columns:
            return column
    return _ID_COLUMN[name]


def _audited(name: str, filters: Filters, parameters: LayerParameters) -> bool:
    """Whether handing out this layer is written to the audit log (it names enterprises)."""
    if name in RECORD_TABLES:
        return True
    return filters.min_count is None and names_enterprises(name, parameters)


def _load(
    request: Request,
    name: str,
    filters: Filters,
    bbox: tuple[float, ...] | None,
    parameters: LayerParameters | None = None,
) -> tuple[gpd.GeoDataFrame, dict[str, Any]]:
    """The layer's features (within ``bbox``) and its provenance."""
    engine, settings = request.app.state.engine, request.app.state.settings
    frame, meta = load_layer(engine, name, filters, parameters, settings)
    if bbox is not None and len(frame):
        frame = frame[frame.geometry.intersects(box(*bbox))]
    return frame, meta


def _provenance(name: str, meta: dict[str, Any]) -> dict[str, Any] | None:
    """What an analytic layer's items say of its build (``provenance``): the layer, the
    filters and parameters it was built for, the data version and the build time."""
    if name not in ANALYTIC_LAYERS or "built_at" not in meta:
        return None
    keys = ("layer", "filters", "parameters", "data_version", "built_at")
    return {k: meta[k] for k in keys}


class GeoJSONResponse(JSONResponse):
    """A JSON body encoded by msgspec: the bytes Starlette's ``json.dumps`` gives (UTF-8,
    compact), many times faster; a page of point records is mostly Chinese text."""

    def render(self, content: Any) -> bytes:
        return _ENCODER.encode(content)


_ENCODER = msgspec.json.Encoder()


@router.get("/collections/{collection_id}/items", operation_id="items", response_class=JSONResponse)
async def items(
    collection_id: str,
    request: Request,
    limit: int = Query(100, ge=1, le=MAX_LIMIT),
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
    after: str | None = Query(
        None,
        max_length=200,
        description="Point records: the id of the last feature of the previous page; the "
        "page starts after it (the next links carry it). `offset` still numbers the page.",
    ),
    bbox: tuple[float, float, float, float] | None = Depends(bbox_param),
    interval: tuple[dt.date | None, dt.date | None] = Depends(datetime_param),
    filters: Filters = Depends(scoped_filters),
    crs: str | None = Query(
        None, description="CRS of the response (URI or short code such as EPSG:4490)"
    ),
    bbox_crs: str | None = Query(
        None, alias="bbox-crs", description="CRS of bbox (URI or short code)"
    ),
    filter_text: str | None = Query(
        None,
        alias="filter",
        max_length=20_000,
        description="CQL2 筛选条件 filter (OGC API - Features Part 3), e.g. "
        "`penalty_amount BETWEEN 10000 AND 50000 AND enterprise_name LIKE '%化工%'`",
    ),
    filter_lang: str | None = Query(
        None,
        alias="filter-lang",
        description="cql2-text (default) or cql2-json",
        json_schema_extra={"enum": ["cql2-text", "cql2-json", "cql-text"]},
    ),
    filter_crs: str | None = Query(
        None, alias="filter-crs", description="CRS of the filter's geometries (CRS84 only)"
    ),
    sortby: str | None = Query(
        None, max_length=2_000, description="排序 sort keys, e.g. `-penalty_amount,case_id`"
    ),
    properties: str | None = Query(
        None, max_length=4_000, description="返回的属性 the properties to return, comma-separated"
    ),
    caller: Caller = Depends(get_caller),
    # the page is sent once its audit entry is committed, awaited on the event loop
    answer: Answer = Depends(audit_before_answer, scope="function"),
) -> JSONResponse:
    # made on a worker thread (SQLite's pages of point records one at a time): no
    # docstring here, the route's OpenAPI text is its section's
    page = functools.partial(
        _items_page,
        request,
        collection_id,
        limit=limit,
        offset=offset,
        after=after,
        bbox=bbox,
        interval=interval,
        filters=filters,
        crs=crs,
        bbox_crs=bbox_crs,
        filter_text=filter_text,
        filter_lang=filter_lang,
        filter_crs=filter_crs,
        sortby=sortby,
        properties=properties,
        caller=caller,
        answer=answer,
    )
    return await make_page(get_engine(request), page, _paged_by_store(collection_id, filters))


def _items_page(
    request: Request,
    collection_id: str,
    *,
    limit: int,
    offset: int,
    after: str | None,
    bbox: tuple[float, float, float, float] | None,
    interval: tuple[dt.date | None, dt.date | None],
    filters: Filters,
    crs: str | None,
    bbox_crs: str | None,
    filter_text: str | None,
    filter_lang: str | None,
    filter_crs: str | None,
    sortby: str | None,
    properties: str | None,
    caller: Caller,
    answer: Answer,
) -> JSONResponse:
    """:func:`items`' page, made from its parsed parameters."""
    # the store and the audit log from the app, not as (sync) dependencies: each of those
    # would cost a hop to a worker thread, and this page is asked at high rates
    engine, audit_log = get_engine(request), get_audit_log(request)
    _check(collection_id)
    response_crs = parse_crs(crs)
    if filter_crs is not None and parse_crs(filter_crs) != CRS84:
        raise BadFilterError(
            f"filter-crs：只接受 CRS84 (filter-crs {filter_crs!r}: only CRS84 is supported)"
        )
    if bbox is not None:
        bbox = bbox_to_crs84(bbox, parse_crs(bbox_crs))
        check_bbox(bbox, request.app.state.settings.max_bbox_km2)
    if interval != (None, None):
        filters = replace(
            filters, start=interval[0] or filters.start, end=interval[1] or filters.end
        )
    parameters = parse_parameters(collection_id, request.query_params)
    query = _Query.parse(request, collection_id, filters, filter_text, filter_lang, sortby)
    query = replace(query, properties=parse_properties(properties, query.queryables))
    provenance = None
    if _paged_by_store(collection_id, filters) and response_crs == CRS84:
        features, matched = _record_page(
            request, engine, collection_id, filters, bbox, parameters, offset, limit, after, query
        )
    else:
        page, matched, provenance = _page(
            request, engine, collection_id, filters, bbox, parameters, offset, limit, after, query
        )
        features = _frame_features(page, collection_id, response_crs)
    keyset = _paged_by_store(collection_id, filters) and len(features) > 0 and not query.sortby
    last = features[-1]["id"] if keyset else None
    base = str(request.base_url)
    for feature in features:
        _link_file(feature, collection_id, base)
        if query.properties:
            kept = feature.get("properties") or {}
            feature["properties"] = {n: kept.get(n) for n in query.properties}
    doc: dict[str, Any] = {"type": "FeatureCollection", "features": features}
    if matched is not None:  # beyond COUNT_LIMIT point records it is left out, as OGC allows
        doc["numberMatched"] = matched
    doc.update(
        numberReturned=len(features),
        timeStamp=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        links=_page_links(request, offset, limit, matched, len(features), last),
    )
    if provenance is not None:
        doc["provenance"] = provenance
    if _audited(collection_id, filters, parameters):
        audit_log.record(
            caller,
            "read",
            request.url.path,
            dict(request.query_params),
            len(features),
            answer=answer,
        )
    return GeoJSONResponse(doc, media_type=GEOJSON, headers={"Content-Crs": f"<{response_crs}>"})


def _frame_features(page: gpd.GeoDataFrame, name: str, response_crs: str) -> list[dict[str, Any]]:
    """A page of a frame as GeoJSON features in ``response_crs``, each with its id."""
    features: list[dict[str, Any]] = to_geojson_dict(
        to_response_crs(page, response_crs), {}, to_wgs84=False
    )["features"]
    for feature, fid in zip(features, page[_id_column(name, page)], strict=True):
        feature["id"] = str(fid)
    return features


def _record_page(
    request: Request,
    engine: Engine,
    name: str,
    filters: Filters,
    bbox: tuple[float, ...] | None,
    parameters: LayerParameters,
    offset: int,
    limit: int,
    after: str | None,
    query: _Query,
) -> tuple[list[dict[str, Any]], int | None]:
    """A page of point records in CRS84 as features with their ids, and the number
    matched: :func:`_page`'s records encoded straight from the store's rows."""
    asked = _page_request(request, parameters, bbox, offset, limit, after, query)
    names, rows, matched = read_records_rows(engine, name, filters, asked, json_text=True)
    features = _record_features(names, rows, _converters(name, tuple(names), json_text=True))
    key_at = names.index(_ID_COLUMN[name])
    for feature, row in zip(features, rows, strict=True):
        feature["id"] = str(row[key_at])
    return features, matched


def _record_features(
    names: list[str], rows: list[Any], converters: _Converters | None = None
) -> list[dict[str, Any]]:
    """GeoJSON point features of point-record rows, with the properties
    :func:`~layers.files.to_geojson_dict` gives for their frame (``h3_15`` as its string
    id, dates as ISO text, JSON as text, no NaN; an integer stays one where a frame would
    make a column with gaps float), made without the frame, which cost most of a page's
    time. ``converters`` (:func:`_converters`) name the columns that can hold a value to
    change; without them every value is looked at."""
    lon_at, lat_at, h3_at = names.index("lon"), names.index("lat"), names.index("h3_15")
    plan = tuple((at, _plain) for at in range(len(names))) if converters is None else converters
    features: list[dict[str, Any]] = []
    append, cell = features.append, h3.int_to_str
    for row in rows:
        values = list(row)
        for at, convert in plan:
            values[at] = convert(values[at])
        values[h3_at] = cell(int(row[h3_at]))
        geometry = {"type": "Point", "coordinates": (float(row[lon_at]), float(row[lat_at]))}
        append(
            {
                "type": "Feature",
                "properties": dict(zip(names, values, strict=True)),
                "geometry": geometry,
            }
        )
    return features


_Converters = tuple[tuple[int, Callable[[Any], Any]], ...]


@functools.cache
def _converters(name: str, names: tuple[str, ...], json_text: bool = False) -> _Converters:
    """Each column of a record table's rows that can hold a value to change, and how it
    becomes a property value (numbers: NaN to null; dates: ISO text; JSON: text). Text,
    integers and booleans are kept as the store gives them. With ``json_text`` the rows
    hold a JSON column's stored text (``read_records_rows(json_text=True)``)."""
    types = {c.name: c.type for c in RECORD_TABLES[name].__table__.columns}  # type: ignore[attr-defined]
    out: list[tuple[int, Callable[[Any], Any]]] = []
    for at, column in enumerate(names):
        kind = types[column]
        if isinstance(kind, Float):
            out.append((at, _number))
        elif isinstance(kind, Date):
            out.append((at, _date))
        elif json_text and isinstance(kind, JSON):
            out.append((at, _json_value))
        elif not isinstance(kind, String | Integer | Boolean):
            out.append((at, _plain))
    return tuple(out)


def _number(value: Any) -> Any:
    return value if value == value else None  # NaN, never equal to itself: no value


def _date(value: Any) -> Any:
    return None if value is None else value.isoformat()


#: ``json.dumps(value, ensure_ascii=False)`` without making an encoder per value.
_JSON_TEXT = json.JSONEncoder(ensure_ascii=False).encode


#: Stored JSON texts and the property values :func:`_json_value` made of them, at most
#: :data:`JSON_VALUES_KEPT`: most records of a table share a few (``{"stated_adcode": …}``).
_JSON_VALUES: dict[str, Any] = {}
JSON_VALUES_KEPT = 4096


def _json_value(text: Any) -> Any:
    """A JSON column's stored text as the property value :func:`_plain` makes of the value
    the store's driver parses from it, each distinct text parsed and written once."""
    if not isinstance(text, str):
        return _plain(text)  # SQL NULL (or a value the store did not keep as text)
    value = _JSON_VALUES.get(text)
    if value is None:
        value = _plain(json.loads(text))
        if len(_JSON_VALUES) >= JSON_VALUES_KEPT:
            _JSON_VALUES.clear()
        _JSON_VALUES[text] = value
    return value


def _plain(value: Any) -> Any:
    """A stored value as a JSON property value (see :func:`_record_features`)."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return None if value != value else value  # NaN: no value
    if isinstance(value, dict | list):
        return _JSON_TEXT(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _link_file(feature: dict[str, Any], name: str, base: str) -> None:
    """A ``related`` link to the enterprise file (一源一档) of the enterprise a record is
    linked to (``enterprise_credit_code``), or of an enterprise itself (the register, and
    the risk layer by enterprise)."""
    properties = feature.get("properties") or {}
    own = name in ("enterprises", "risk")
    code = properties.get("credit_code" if own else "enterprise_credit_code")
    if code:
        feature.setdefault("links", []).append(file_link(base, str(code)))


def _paged_by_store(name: str, filters: Filters) -> bool:
    """Point records (for an account): filtered, counted and paged by the store."""
    return name in RECORD_TABLES and filters.min_count is None


@dataclass(frozen=True)
class _Query:
    """A request's Part 3 and Part 6 parameters, checked against the collection's
    queryables: the CQL2 filter, the sort keys and the properties to return."""

    queryables: dict[str, Queryable]
    cql: CqlFilter | None = None
    sortby: tuple[SortKey, ...] = ()
    properties: tuple[str, ...] = ()

    @classmethod
    def parse(
        cls,
        request: Request,
        name: str,
        filters: Filters,
        text: str | None,
        lang: str | None,
        sortby: str | None,
    ) -> _Query:
        queryables = _queryables(request, name, filters)
        cql = parse_filter(text, lang, queryables) if text else None
        return cls(queryables, cql, parse_sortby(sortby, queryables))


def _queryables(request: Request, name: str, filters: Filters) -> dict[str, Queryable]:
    """What a filter on collection ``name`` may name: a record table's columns (titled as
    the tiles title them), or the analytic layer's properties."""
    from geo_service.api.tiles import FIELD_LABELS  # the tiles module imports this one

    if name in RECORD_TABLES:
        return dict(_record_queryables(name))
    frame, _ = _load(request, name, filters, None)
    out = {
        str(c): Queryable(str(c), _json_type(t), FIELD_LABELS.get(str(c), str(c)))
        for c, t in frame.dtypes.items()
        if c != frame.geometry.name
    }
    out["geometry"] = Queryable("geometry", "geometry", "几何 geometry")
    return out


@functools.cache
def _record_queryables(name: str) -> dict[str, Queryable]:
    """A record table's queryables, which depend on the table alone: made once per table."""
    from geo_service.api.tiles import FIELD_LABELS  # the tiles module imports this one

    return record_queryables(name, FIELD_LABELS)


def _page(
    request: Request,
    engine: Engine,
    name: str,
    filters: Filters,
    bbox: tuple[float, ...] | None,
    parameters: LayerParameters,
    offset: int,
    limit: int,
    after: str | None = None,
    query: _Query | None = None,
) -> tuple[gpd.GeoDataFrame, int | None, dict[str, Any] | None]:
    """One page of the collection, the number matched (None: more than COUNT_LIMIT
    point records) and an analytic layer's provenance (:func:`_provenance`).

    Point records are filtered (property and CQL2 filters too), sorted, counted and
    paged by the store; analytic layers are filtered and sorted from the whole layer.
    """
    query = query or _Query({})
    if _paged_by_store(name, filters):
        asked = _page_request(request, parameters, bbox, offset, limit, after, query)
        page, matched = read_records_page(engine, name, filters, asked)
        return page, matched, None
    frame, meta = _load(request, name, filters, bbox, parameters)
    frame = _property_filters(request, frame, skip=set(parameters.given))
    if query.cql is not None:
        frame = filter_frame(frame, query.cql)
    if query.sortby:
        frame = frame.sort_values(
            [k.name for k in query.sortby],
            ascending=[not k.descending for k in query.sortby],
            kind="stable",
        )
    return frame.iloc[offset : offset + limit], len(frame), _provenance(name, meta)


_RESERVED = {
    "limit",
    "offset",
    "after",
    "bbox",
    "bbox-crs",
    "crs",
    "datetime",
    "f",
    "filter",
    "filter-lang",
    "filter-crs",
    "sortby",
    "properties",
    *FILTER_NAMES,
}


def _page_request(
    request: Request,
    parameters: LayerParameters,
    bbox: tuple[float, ...] | None,
    offset: int,
    limit: int,
    after: str | None,
    query: _Query,
) -> PageRequest:
    """The page of point records an items request asks the store for, counted up to
    :data:`COUNT_LIMIT`."""
    return PageRequest(
        bbox=bbox,
        offset=offset,
        limit=limit,
        properties=_property_values(request, skip=set(parameters.given)),
        count_limit=COUNT_LIMIT,
        after=after,
        cql=query.cql,
        sortby=query.sortby,
    )


def _property_values(request: Request, skip: set[str]) -> dict[str, str]:
    """The query's property filters (names neither reserved nor layer parameters)."""
    return {n: v for n, v in request.query_params.items() if n not in _RESERVED and n not in skip}


def _property_filters(
    request: Request, frame: gpd.GeoDataFrame, skip: set[str]
) -> gpd.GeoDataFrame:
    """``?name=value`` for any queryable property: equality on its text form.

    Names in ``skip`` are the layer's analysis parameters (``resolution`` …), not filters.
    """
    for name, value in request.query_params.items():
        if name in _RESERVED or name in skip:
            continue
        if name not in frame.columns or name == frame.geometry.name:
            raise BadFilterError(f"{name!r} is not a queryable of this collection")
        frame = frame[frame[name].astype(str) == value]
    return frame


def _json_type(dtype: Any) -> str:
    kind = getattr(dtype, "kind", "O")
    return {"i": "integer", "u": "integer", "f": "number", "b": "boolean"}.get(kind, "string")


@router.get("/collections/{collection_id}/queryables", operation_id="queryables")
def queryables(
    collection_id: str,
    request: Request,
    engine: Engine = Depends(get_engine),
    _caller: Caller = Depends(get_caller),
) -> JSONResponse:
    _check(collection_id)
    # a record table's from the table alone: never the collection itself
    found = _queryables(request, collection_id, Filters())
    properties = {n: q.schema() for n, q in found.items()}
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": str(request.url),
        "type": "object",
        "title": LAYER_TITLES.get(collection_id, collection_id),
        "properties": properties,
        "additionalProperties": True,
        # the draft form GDAL 3.6 and older read (rel "queryables"): one entry a property
        "queryables": [{"id": n, "queryable": n, "type": q.type} for n, q in found.items()],
    }
    return JSONResponse(schema, media_type=SCHEMA)


def _page_links(
    request: Request,
    offset: int,
    limit: int,
    matched: int | None,
    returned: int,
    last: str | None = None,
) -> list[dict[str, str]]:
    """self, next (while more match: by the count, or a full page when it was not counted)
    and prev links. The next link of point records also names the page's ``last`` id
    (``after``): the store starts the next page there instead of counting ``offset``
    records again."""

    def at(start: int) -> str:
        url = request.url.remove_query_params("after")
        return str(url.include_query_params(offset=start, limit=limit))

    links = [{"href": str(request.url), "rel": "self", "type": GEOJSON}]
    more = offset + limit < matched if matched is not None else returned == limit
    if more:
        if last is not None:
            href = str(
                request.url.include_query_params(offset=offset + limit, limit=limit, after=last)
            )
        else:
            href = at(offset + limit)
        links.append({"href": href, "rel": "next", "type": GEOJSON})
    if offset > 0:
        links.append({"href": at(max(0, offset - limit)), "rel": "prev", "type": GEOJSON})
    return links


@router.get("/collections/{collection_id}/items/{feature_id}", operation_id="item")
def item(
    collection_id: str,
    feature_id: str,
    request: Request,
    filters: Filters = Depends(scoped_filters),
    crs: str | None = Query(
        None, description="CRS of the response (URI or short code such as EPSG:4490)"
    ),
    engine: Engine = Depends(get_engine),
    caller: Caller = Depends(get_caller),
    audit_log: AuditLog = Depends(get_audit_log),
) -> JSONResponse:
    _check(collection_id)
    response_crs = parse_crs(crs)
    parameters = parse_parameters(collection_id, request.query_params)
    if _paged_by_store(collection_id, filters):  # one row by its key
        key = {_ID_COLUMN[collection_id]: feature_id}
        asked = PageRequest(limit=1, properties=key)
        frame, _ = read_records_page(engine, collection_id, filters, asked)
        provenance = None
    else:
        frame, meta = _load(request, collection_id, filters, None, parameters)
        provenance = _provenance(collection_id, meta)
    match = frame[frame[_id_column(collection_id, frame)].astype(str) == feature_id]
    if match.empty:
        raise UnknownLayerError(f"no feature {feature_id!r} in {collection_id}")
    placed = to_response_crs(match.iloc[:1], response_crs)
    feature = to_geojson_dict(placed, {}, to_wgs84=False)["features"][0]
    feature["id"] = feature_id
    if provenance is not None:
        feature["provenance"] = provenance
    _link_file(feature, collection_id, str(request.base_url))
    if _audited(collection_id, filters, parameters):
        audit_log.record(caller, "read", request.url.path, dict(request.query_params), 1)
    return JSONResponse(feature, media_type=GEOJSON, headers={"Content-Crs": f"<{response_crs}>"})
