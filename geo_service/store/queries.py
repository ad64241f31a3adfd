"""Reading records and divisions back from the store, filtered."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import pandas as pd
import shapely
from sqlalchemy import (
    JSON,
    Boolean,
    ColumnElement,
    Connection,
    Date,
    Engine,
    Float,
    Integer,
    Select,
    Table,
    Text,
    cast,
    func,
    literal,
    literal_column,
    select,
    true,
)

from analytics.cells import cells_to_strings
from geo_service.core.cql2 import CqlFilter, Queryable, SortKey
from geo_service.core.errors import BadFilterError, UnknownLayerError
from geo_service.core.filters import Filters
from geo_service.store import spatial_pages
from geo_service.store.cql2_sql import filter_condition
from geo_service.store.frames import rows_frame
from geo_service.store.models import (
    INGEST_TABLES,
    NATURAL_KEYS,
    RECORD_TABLES,
    IngestBatch,
    Jurisdiction,
)

_DATE_COLUMN = {
    "cases": "decision_date",
    "inspections": "inspection_date",
    "exceedances": "monitor_date",
    "complaints": "complaint_date",
}
#: Kinds that are neither dated nor typed: only the jurisdiction and industry filters apply.
_UNDATED = ("enterprises", "inspectors", "projects")
_TYPE_COLUMN = {"cases": "violation_type", "inspections": "problem_category"}
_HIDDEN = ("id", "batch_id", "name_norm")


def data_version(engine: Engine) -> int:
    """A number that grows with every stored ingest batch (0 for an empty store)."""
    with engine.connect() as conn:
        return int(conn.execute(select(func.coalesce(func.max(IngestBatch.id), 0))).scalar_one())


def jurisdiction_level(engine: Engine, adcode: str) -> str:
    """Level (province/city/county) of a stored jurisdiction; BadFilterError if unknown."""
    with engine.connect() as conn:
        level = conn.execute(
            select(Jurisdiction.level).where(Jurisdiction.adcode == adcode)
        ).scalar()
    if level is None:
        raise BadFilterError(f"jurisdiction {adcode} is not a loaded division")
    return str(level)


#: Levels of divisions per store, kept a minute: every read within a jurisdiction needs
#: one, and a division's level does not change while the service runs.
LEVEL_TTL_S = 60.0
_LEVELS: dict[tuple[str, str], tuple[float, str]] = {}


def _cached_level(engine: Engine, adcode: str) -> str:
    """:func:`jurisdiction_level`, remembered for :data:`LEVEL_TTL_S` (known divisions only)."""
    key = (str(engine.url), adcode)
    hit = _LEVELS.get(key)
    now = time.monotonic()
    if hit is not None and now - hit[0] <= LEVEL_TTL_S:
        return hit[1]
    level = jurisdiction_level(engine, adcode)
    if len(_LEVELS) >= 10_000:
        _LEVELS.clear()
    _LEVELS[key] = (now, level)
    return level


def _conditions(engine: Engine, kind: str, table: Table, filters: Filters) -> ColumnElement[bool]:
    cond: ColumnElement[bool] = true()
    if filters.jurisdiction:
        level = _cached_level(engine, filters.jurisdiction)
        column = {"province": "province_adcode", "city": "city_adcode", "county": "adcode"}[level]
        cond &= table.c[column] == filters.jurisdiction
    if filters.industry and "industry_code" in table.c:
        cond &= table.c.industry_code.startswith(filters.industry.upper())
    start, end = filters.date_range()
    if kind in _DATE_COLUMN:
        date = table.c[_DATE_COLUMN[kind]]
        if start:
            cond &= date >= start
        if end:
            cond &= date <= end
    if filters.violation_type and kind in _TYPE_COLUMN:
        cond &= table.c[_TYPE_COLUMN[kind]] == filters.violation_type
    return cond


#: The PostGIS geometry column of each point-record table (not a mapped column).
GEOM_COLUMNS = {
    "enterprises": "enterprises.geom",
    "cases": "cases.geom",
    "inspections": "inspections.geom",
    "projects": "projects.geom",
}
#: The natural key of each point-record table (its sort order and feature id).
RECORD_KEYS = {kind: NATURAL_KEYS[kind] for kind in RECORD_TABLES}


def record_filter(
    engine: Engine, kind: str, filters: Filters | None, bbox: tuple[float, ...] | None = None
) -> tuple[Table, ColumnElement[bool]]:
    """The table of point records of ``kind`` and the condition of ``filters`` and a WGS84
    ``bbox`` (west, south, east, north: points inside or on its edge, as shapely's
    intersects). On PostgreSQL the box is first matched on the GiST index of ``geom``
    (``&&``, whose boxes are single precision) and then exactly on lon/lat."""
    if kind not in RECORD_TABLES:
        raise UnknownLayerError(f"no record layer {kind!r}")
    table: Table = RECORD_TABLES[kind].__table__  # type: ignore[attr-defined]
    cond = _conditions(engine, kind, table, filters or Filters())
    if bbox is not None:
        west, south, east, north = (float(v) for v in bbox)
        if engine.dialect.name == "postgresql":
            envelope = func.ST_MakeEnvelope(west, south, east, north, 4326)
            cond &= literal_column(GEOM_COLUMNS[kind]).op("&&")(envelope)
        cond &= table.c.lon.between(west, east) & table.c.lat.between(south, north)
    return table, cond


def record_columns(table: Table) -> list[Any]:
    """The stored columns of a point-record table that layers show (no row or batch ids)."""
    return [c for c in table.c if c.name not in _HIDDEN]


def record_queryables(kind: str, titles: Mapping[str, str] | None = None) -> dict[str, Queryable]:
    """The queryables of a point-record layer, from the table alone: each property's JSON
    Schema type (dates with ``format: date``; the H3 cell is its string id;
    ``attributes``, free JSON, is not queryable), titled from ``titles``, and the
    point geometry."""
    table: Table = RECORD_TABLES[kind].__table__  # type: ignore[attr-defined]
    titles = titles or {}
    out = {}
    for column in record_columns(table):
        if isinstance(column.type, JSON):
            continue
        kind_of, fmt = column.type, None
        if column.name == "h3_15":
            json_type = "string"
        elif isinstance(kind_of, Boolean):
            json_type = "boolean"
        elif isinstance(kind_of, Integer):
            json_type = "integer"
        elif isinstance(kind_of, Float):
            json_type = "number"
        else:
            json_type, fmt = "string", "date" if isinstance(kind_of, Date) else None
        title = titles.get(column.name, column.name)
        out[column.name] = Queryable(column.name, json_type, title, fmt)
    out["geometry"] = Queryable("geometry", "geometry", titles.get("geometry", "位置 point"))
    return out


_TRUE, _FALSE = ("true", "1"), ("false", "0")


def property_condition(table: Table, name: str, value: str) -> ColumnElement[bool]:
    """``name=value`` on a point-record table: equality with the value read as the column's
    type (a number as a number, so ``5000`` and ``5000.0`` match alike; a date as an ISO
    date; a boolean as true/false/1/0; the H3 cell as its string id). BadFilterError for a
    name that is not a queryable or a value the column cannot hold."""
    shown = {c.name: c for c in record_columns(table)}
    column = shown.get(name)
    if column is None or isinstance(column.type, JSON):
        raise BadFilterError(f"{name!r} is not a queryable of this collection")
    try:
        if name == "h3_15":
            return column == _int64(int(value, 16))  # the hexadecimal id, as h3 reads it
        if isinstance(column.type, Boolean):
            word = value.strip().lower()
            if word not in _TRUE + _FALSE:
                raise ValueError(value)
            return column.is_(word in _TRUE)
        if isinstance(column.type, Integer):
            return column == _int64(int(value))
        if isinstance(column.type, Float):
            return column == float(value)
        if isinstance(column.type, Date):
            return column == dt.date.fromisoformat(value)
    except (ValueError, TypeError, OverflowError) as err:
        raise BadFilterError(f"{name}={value!r} is not a value of {name}") from err
    return column == value


def _int64(number: int) -> int:
    """``number`` if a 64-bit integer column can hold it (drivers overflow on others)."""
    if not -(2**63) <= number < 2**63:
        raise OverflowError(number)
    return number


def _records_query(
    engine: Engine,
    kind: str,
    filters: Filters | None,
    bbox: tuple[float, ...] | None,
    properties: Mapping[str, str] | None = None,
    cql: CqlFilter | None = None,
) -> tuple[Select[Any], list[str], ColumnElement[Any]]:
    """The query of point records of ``kind`` (stored columns), their names and sort key."""
    table, cond = record_filter(engine, kind, filters, bbox)
    for name, value in (properties or {}).items():
        cond &= property_condition(table, name, value)
    if cql is not None:  # ANDed with the scope: a filter only narrows it
        cond &= filter_condition(table, cql, engine.dialect.name, GEOM_COLUMNS.get(kind))
    columns = record_columns(table)
    return select(*columns).where(cond), [c.name for c in columns], table.c[RECORD_KEYS[kind]]


def _records_frame(rows: Any, names: list[str]) -> gpd.GeoDataFrame:
    frame = rows_frame(rows, names)
    frame["h3_15"] = cells_to_strings(frame["h3_15"].to_numpy()) if len(frame) else []
    geometry = shapely.points(frame["lon"].to_numpy(float), frame["lat"].to_numpy(float))
    return gpd.GeoDataFrame(frame, geometry=geometry, crs="EPSG:4326")


def bounded_count(conn: Connection, query: Select[Any], limit: int | None = None) -> int:
    """How many rows ``query`` gives, counted up to ``limit + 1`` when a ``limit`` is given
    (the scan stops there: more than ``limit`` is all a caller needs to know)."""
    counted = query if limit is None else query.limit(limit + 1)
    return int(conn.execute(select(func.count()).select_from(counted.subquery())).scalar_one())


def read_records(
    engine: Engine,
    kind: str,
    filters: Filters | None = None,
    bbox: tuple[float, ...] | None = None,
) -> gpd.GeoDataFrame:
    """Point records of ``kind`` matching ``filters`` (in a WGS84 ``bbox`` if given) as a
    WGS84 GeoDataFrame.

    Properties are the stored columns (``h3_15`` as its string id), ordered by
    the natural key.
    """
    query, names, key = _records_query(engine, kind, filters, bbox)
    with engine.connect() as conn:
        rows = conn.execute(query.order_by(key)).all()
    return _records_frame(rows, names)


@dataclass(frozen=True)
class PageRequest:
    """Which page of a kind's records to read: the WGS84 ``bbox``, the property filters of
    :func:`property_condition`, a CQL2 filter (Part 3), the order, where the page starts
    (``offset``, or ``after`` the natural key of the previous page's last record), its
    size, and how far to count (``count_limit``: beyond it, the count is None)."""

    bbox: tuple[float, ...] | None = None
    offset: int = 0
    limit: int = 100
    properties: Mapping[str, str] | None = None
    count_limit: int | None = None
    after: str | None = None
    cql: CqlFilter | None = None
    sortby: tuple[SortKey, ...] = ()


def _json_as_text(columns: Any) -> list[Any]:
    """``columns`` with each JSON column read as the text the store holds, under its name."""
    return [cast(c, Text).label(c.name) if isinstance(c.type, JSON) else c for c in columns]


def read_records_page(
    engine: Engine, kind: str, filters: Filters | None, page: PageRequest = PageRequest()
) -> tuple[gpd.GeoDataFrame, int | None]:
    """One page of :func:`read_records` (:class:`PageRequest`), and how many match.

    The store filters, counts and pages (LIMIT/OFFSET on the natural key): a page of a
    large collection reads that page, not the collection. With ``count_limit`` the
    count stops there: more matches than that give None (counting ten million rows
    takes seconds; counting to the limit, milliseconds). With ``after`` (the natural key
    of the last record of the previous page) the page starts after that record, found
    on the key's index, and ``offset`` is not used: a page deep in a large collection
    costs what the first does (an OFFSET of millions reads them all). ``sortby`` orders
    the records before the natural key, and then pages by ``offset`` (``after`` follows
    the natural key only). A ``bbox`` page without ``sortby`` is in the order of the H3
    cell, then the natural key (:mod:`geo_service.store.spatial_pages`), ``after``
    included; unlike :func:`read_records`, which stays in key order.
    """
    names, rows, matched = read_records_rows(engine, kind, filters, page)
    return _records_frame(rows, names), matched


def read_records_rows(
    engine: Engine,
    kind: str,
    filters: Filters | None,
    page: PageRequest = PageRequest(),
    *,
    json_text: bool = False,
) -> tuple[list[str], list[Any], int | None]:
    """:func:`read_records_page` without the frame: the columns' names, the rows as the
    store gives them (``h3_15`` an integer) and the number matched. For a page that is
    encoded at once (the items route), where a GeoDataFrame of 100 rows costs more than
    reading them. With ``json_text`` a JSON column's values are the text the store holds
    (None for SQL NULL), not parsed: a caller that makes text of them again can skip the
    parse for a text it has seen."""
    spatial = page.bbox is not None and not page.sortby  # by H3 cell, then key: spatial_pages
    query, names, key = _records_query(
        engine, kind, filters, None if spatial else page.bbox, page.properties, page.cql
    )
    if json_text:
        query = query.with_only_columns(*_json_as_text(query.selected_columns))
    table = RECORD_TABLES[kind].__table__  # type: ignore[attr-defined]
    order = [table.c[k.name].desc() if k.descending else table.c[k.name].asc() for k in page.sortby]
    keyset = page.after is not None and not page.sortby
    paged = query.where(key > page.after) if keyset else query.offset(page.offset)
    with engine.connect() as conn:
        if spatial:  # the query without its box: read_page adds it, on the H3 ranges
            rows, matched = spatial_pages.read_page(conn, kind, table, query, key, page)
        else:
            # counted on the condition alone: no row read for its columns (an index suffices)
            counted = query.with_only_columns(literal(1), maintain_column_froms=True)
            matched = bounded_count(conn, counted, page.count_limit)
            rows = list(conn.execute(paged.order_by(*order, key).limit(page.limit)).all())
    if page.count_limit is not None and matched > page.count_limit:
        return names, rows, None
    return names, rows, int(matched)


def read_frame(
    engine: Engine, kind: str, filters: Filters | None, columns: list[str]
) -> pd.DataFrame:
    """Selected columns of the records of any ingest kind matching ``filters``, by row id.

    No geometry. The jurisdiction filter takes records within the division (a
    roster's officers by the division of their unit); the period or start/end
    filter applies to dated kinds by their date column (``monitor_date`` of
    exceedances, ``complaint_date`` of complaints); ``violation_type`` to cases
    and inspections only; ``industry`` where the kind has an industry code.
    """
    if kind not in INGEST_TABLES:
        raise UnknownLayerError(f"no record kind {kind!r}")
    table: Table = INGEST_TABLES[kind].__table__  # type: ignore[assignment]
    filters = filters or Filters()
    if kind in _UNDATED:  # the register and the roster are not dated and have no type
        filters = Filters(jurisdiction=filters.jurisdiction, industry=filters.industry)
    query = select(*(table.c[c] for c in columns)).where(_conditions(engine, kind, table, filters))
    with engine.connect() as conn:
        rows = conn.execute(query.order_by(table.c.id)).all()
    return rows_frame(rows, columns)


def read_chunks(
    engine: Engine, kind: str, filters: Filters | None, columns: list[str], chunk_rows: int
) -> Iterator[pd.DataFrame]:
    """The frame of :func:`read_frame` in pieces of at most ``chunk_rows`` rows, in row-id
    order, read through one streaming cursor (``yield_per``: a server-side cursor on
    PostgreSQL): a pass over a table larger than memory holds one piece at a time."""
    if kind not in INGEST_TABLES:
        raise UnknownLayerError(f"no record kind {kind!r}")
    table: Table = INGEST_TABLES[kind].__table__  # type: ignore[assignment]
    filters = filters or Filters()
    if kind in _UNDATED:
        filters = Filters(jurisdiction=filters.jurisdiction, industry=filters.industry)
    query = select(*(table.c[c] for c in columns)).where(_conditions(engine, kind, table, filters))
    with engine.connect() as conn:
        result = conn.execution_options(yield_per=chunk_rows).execute(query.order_by(table.c.id))
        for rows in result.partitions(chunk_rows):
            yield rows_frame(rows, columns)


def read_jurisdictions(engine: Engine, filters: Filters | None = None) -> gpd.GeoDataFrame:
    """The stored divisions (within ``filters.jurisdiction`` when set) as polygons."""
    table: Table = Jurisdiction.__table__  # type: ignore[assignment]
    cond: ColumnElement[bool] = true()
    if filters and filters.jurisdiction:
        code = filters.jurisdiction
        cond = (
            (table.c.adcode == code)
            | (table.c.parent_adcode == code)
            | (table.c.city_adcode == code)
            | (table.c.province_adcode == code)
        )
    with engine.connect() as conn:
        rows = conn.execute(select(table).where(cond).order_by(table.c.adcode)).mappings().all()
    frame = pd.DataFrame([dict(r) for r in rows])
    if frame.empty:
        return gpd.GeoDataFrame({"adcode": []}, geometry=[], crs="EPSG:4326")
    geometry = shapely.from_wkb(frame.pop("geom_wkb").to_numpy())
    return gpd.GeoDataFrame(frame, geometry=geometry, crs="EPSG:4326")


def jurisdiction_bounds(engine: Engine, filters: Filters) -> tuple[float, float, float, float]:
    """Lon/lat box of the jurisdictions the filters cover (the whole service area by default)."""
    divisions = read_jurisdictions(engine, filters)
    if divisions.empty:
        raise BadFilterError(f"jurisdiction {filters.jurisdiction} is not a loaded division")
    west, south, east, north = (float(v) for v in divisions.total_bounds)
    return west, south, east, north


def provenance(engine: Engine, layer: str, filters: Filters, **params: Any) -> dict[str, Any]:
    """How a layer was made: its name, filters, parameters and the store's data version."""
    return {
        "layer": layer,
        "filters": filters.as_dict(),
        "parameters": params,
        "data_version": data_version(engine),
    }


def extent(engine: Engine, kind: str) -> dict[str, Any]:
    """OGC extent of a layer: the loaded divisions' box, and for dated layers whole years
    from the first record's to the last's.

    ``{"spatial": {"bbox": [[w, s, e, n]], "crs": CRS84}, "temporal": {"interval": [[a, b]]}}``.
    Never the records' own extremes: those are the coordinates and dates of single records
    (an open interval when there are none).
    """
    with engine.connect() as conn:
        row = conn.execute(
            select(
                func.min(Jurisdiction.min_lon),
                func.min(Jurisdiction.min_lat),
                func.max(Jurisdiction.max_lon),
                func.max(Jurisdiction.max_lat),
            )
        ).one()
        dates: list[str | None] = [None, None]
        date_kind = kind if kind in _DATE_COLUMN else "cases"
        if kind not in ("jurisdictions", "enterprises"):
            table = RECORD_TABLES[date_kind].__table__  # type: ignore[attr-defined]
            column = table.c[_DATE_COLUMN[date_kind]]
            first, last = conn.execute(select(func.min(column), func.max(column))).one()
            dates = [
                f"{str(first)[:4]}-01-01T00:00:00Z" if first else None,
                f"{str(last)[:4]}-12-31T23:59:59Z" if last else None,
            ]
    bbox = [float(v) for v in row] if row[0] is not None else [-180.0, -90.0, 180.0, 90.0]
    return {
        "spatial": {"bbox": [bbox], "crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84"},
        "temporal": {
            "interval": [dates],
            "trs": "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian",
        },
    }
