"""Tiles of point records made by PostGIS: one ``ST_AsMVT`` query per tile.

On PostgreSQL a tile of cases, inspections or enterprises needs no layer in
memory: the records in the buffered tile are found on the GiST index of
``geom``, placed with ``ST_AsMVTGeom(ST_Transform(geom, 3857), ST_TileEnvelope(z,
x, y))`` and encoded by ``ST_AsMVT``, with the properties, layer name, extent and
buffer of :func:`layers.tiles.vector_tile` over :func:`read_records` (the same
filters and scope; dates as ISO text, the H3 cell as its hexadecimal id, long
texts left out, no MVT feature ids).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Date, Engine, func, literal_column, select

from geo_service.filters import Filters
from geo_service.store.models import RECORD_TABLES
from geo_service.store.queries import GEOM_COLUMNS, RECORD_KEYS, record_columns, record_filter
from layers.tiles import BUFFER, mercator_to_lonlat, tile_bounds_m
from layers.vector_tiles import EXTENT


def tile_bbox_lonlat(z: int, x: int, y: int, buffer: int = BUFFER,
                     extent: int = EXTENT) -> tuple[float, float, float, float]:  # fmt: skip
    """WGS84 box (west, south, east, north) of tile ``z/x/y`` with ``buffer`` tile units
    around it, widened by 1e-7° (1 cm): every record the tile may draw is inside.

    Examples
    --------
    >>> [round(v, 4) for v in tile_bbox_lonlat(0, 0, 0, buffer=0)]
    [-180.0, -85.0511, 180.0, 85.0511]
    """
    min_x, min_y, max_x, max_y = tile_bounds_m(z, x, y)
    pad = (max_x - min_x) * buffer / extent
    lon, lat = mercator_to_lonlat([min_x - pad, max_x + pad], [min_y - pad, max_y + pad])
    margin = 1e-7
    return (max(float(lon[0]) - margin, -180.0), max(float(lat[0]) - margin, -90.0),
            min(float(lon[1]) + margin, 180.0), min(float(lat[1]) + margin, 90.0))  # fmt: skip


def _property(column: Any) -> Any:
    """A stored column as the tile's property: dates as ISO text, the H3 cell as its id."""
    if column.name == "h3_15":
        return func.to_hex(column).label(column.name)
    if isinstance(column.type, Date):
        return func.to_char(column, "YYYY-MM-DD").label(column.name)
    return column


def record_tile_mvt(
    engine: Engine,
    kind: str,
    filters: Filters,
    z: int,
    x: int,
    y: int,
    *,
    exclude: Sequence[str] = (),
    extent: int = EXTENT,
    buffer: int = BUFFER,
) -> bytes:
    """The MVT tile ``z/x/y`` of the point records of ``kind`` matching ``filters``, made by
    PostGIS (one layer called ``kind``; properties the stored columns but ``exclude``);
    b"" when no record is in the buffered tile."""
    table, cond = record_filter(engine, kind, filters, tile_bbox_lonlat(z, x, y, buffer, extent))
    envelope = func.ST_TileEnvelope(z, x, y)
    geom = func.ST_AsMVTGeom(
        func.ST_Transform(literal_column(GEOM_COLUMNS[kind]), 3857), envelope, extent, buffer,
        True,
    ).label("mvt_geom")  # fmt: skip
    columns = [_property(c) for c in record_columns(table) if c.name not in set(exclude)]
    rows = select(geom, *columns).where(cond).order_by(table.c[RECORD_KEYS[kind]]).subquery("q")
    query = select(
        func.ST_AsMVT(literal_column("q"), kind, extent, "mvt_geom")
    ).select_from(rows).where(rows.c.mvt_geom.is_not(None))  # fmt: skip
    with engine.connect() as conn:
        body = conn.execute(query).scalar()
    return bytes(body) if body else b""


def record_fields(kind: str, exclude: Sequence[str] = ()) -> dict[str, str]:
    """TileJSON field types of the properties :func:`record_tile_mvt` gives, from the
    column types (no read): Number, Boolean or String (dates and the H3 id are text)."""
    table = RECORD_TABLES[kind].__table__  # type: ignore[attr-defined]
    fields = {}
    for column in record_columns(table):
        if column.name in set(exclude):
            continue
        kind_of = column.type.python_type if column.name != "h3_15" else str
        fields[column.name] = {bool: "Boolean", int: "Number", float: "Number"}.get(
            kind_of, "String"
        )
    return fields


def record_bounds(
    engine: Engine, kind: str, filters: Filters
) -> tuple[float, float, float, float] | None:
    """WGS84 extent of the point records of ``kind`` matching ``filters`` (None if none)."""
    table, cond = record_filter(engine, kind, filters)
    query = select(func.min(table.c.lon), func.min(table.c.lat), func.max(table.c.lon),
                   func.max(table.c.lat)).where(cond)  # fmt: skip
    with engine.connect() as conn:
        row = conn.execute(query).one()
    if row[0] is None:
        return None
    w, s, e, n = (float(v) for v in row)
    return w, s, e, n
