"""Tiles of point records made by PostGIS: one ``ST_AsMVT`` query per tile.

On PostgreSQL a tile of cases, inspections or enterprises needs no layer in
memory: the records in the buffered tile are found on the GiST index of
``geom``, placed with ``ST_AsMVTGeom(ST_Transform(geom, 3857), ST_TileEnvelope(z,
x, y))`` and encoded by ``ST_AsMVT``, with the properties, layer name, extent and
buffer of :func:`layers.tiles.vector_tile` over :func:`read_records` (the same
filters and scope; dates as ISO text, the H3 cell as its hexadecimal id, long
texts left out, no MVT feature ids).

Given ``max_points``, a tile with more records than that inside it (its buffer not
counted; the count stops at ``max_points + 1``) carries aggregated points instead
(:func:`aggregated_bins`):
the records are counted per cell of the tile's grid by one ``GROUP BY`` on
``width_bucket`` of ``lon``/``lat`` against the edges of
:func:`layers.tiles.tile_grid` (the float comparisons :func:`layers.tiles.bin_points`
makes, so both stores find the same cells and counts), and the few bins are encoded
by :func:`layers.tiles.aggregated_vector_tile`, as for SQLite. For cases, inspections and
enterprises the count and the ``GROUP BY`` read the H3 ranges covering the tile
(:mod:`geo_service.store.spatial_pages`), one index-only scan of the covering H3 index
each (revision 0012): the wide rows are not read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from sqlalchemy import (
    ColumnElement,
    Date,
    Engine,
    Table,
    bindparam,
    func,
    literal,
    literal_column,
    select,
    union_all,
)
from sqlalchemy.dialects.postgresql import ARRAY, DOUBLE_PRECISION

from geo_service.core.filters import Filters
from geo_service.store.models import RECORD_TABLES
from geo_service.store.queries import (
    GEOM_COLUMNS,
    RECORD_KEYS,
    record_columns,
    record_filter,
)
from geo_service.store.spatial_pages import INDEXED_KINDS, Ranges, cover_ranges
from geo_service.store.spatial_pages import bounded_count as ranged_count
from layers.tiles import (
    AGGREGATE_CELL,
    BUFFER,
    PointBins,
    aggregated_vector_tile,
    mercator_to_lonlat,
    tile_bounds_m,
    tile_grid,
)
from layers.vector_tiles import EXTENT

#: What an aggregated point of each kind sums besides its count: property → stored column.
AGGREGATE_SUMS: Final[dict[str, dict[str, str]]] = {
    "cases": {"penalty_sum": "penalty_amount"},
    "inspections": {},
    "enterprises": {},
}


def tile_bbox_lonlat(
    z: int, x: int, y: int, buffer: int = BUFFER, extent: int = EXTENT
) -> tuple[float, float, float, float]:
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
    return (
        max(float(lon[0]) - margin, -180.0),
        max(float(lat[0]) - margin, -90.0),
        min(float(lon[1]) + margin, 180.0),
        min(float(lat[1]) + margin, 90.0),
    )


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
    max_points: int | None = None,
) -> bytes:
    """The MVT tile ``z/x/y`` of the point records of ``kind`` matching ``filters``, made by
    PostGIS (one layer called ``kind``; properties the stored columns but ``exclude``);
    b"" when no record is in the buffered tile. More than ``max_points`` records inside
    the tile: its aggregated points (:func:`aggregated_bins`) instead."""
    if max_points is not None:
        bins = aggregated_bins(engine, kind, filters, z, x, y, max_points)
        if bins is not None:
            return aggregated_vector_tile(bins, kind, extent)
    table, cond = record_filter(engine, kind, filters, tile_bbox_lonlat(z, x, y, buffer, extent))
    envelope = func.ST_TileEnvelope(z, x, y)
    geom = func.ST_AsMVTGeom(
        func.ST_Transform(literal_column(GEOM_COLUMNS[kind]), 3857),
        envelope,
        extent,
        buffer,
        True,
    ).label("mvt_geom")
    columns = [_property(c) for c in record_columns(table) if c.name not in set(exclude)]
    rows = select(geom, *columns).where(cond).order_by(table.c[RECORD_KEYS[kind]]).subquery("q")
    query = (
        select(func.ST_AsMVT(literal_column("q"), kind, extent, "mvt_geom"))
        .select_from(rows)
        .where(rows.c.mvt_geom.is_not(None))
    )
    with engine.connect() as conn:
        body = conn.execute(query).scalar()
    return bytes(body) if body else b""


_Inside = tuple[Table, ColumnElement[bool], list[float], list[float], Ranges | None]


def _in_tile(
    engine: Engine, kind: str, filters: Filters, z: int, x: int, y: int, cell: int = AGGREGATE_CELL
) -> _Inside:
    """The records inside tile ``z/x/y`` (not its buffer): west ≤ lon < east and south ≤ lat
    < north of :func:`tile_grid`'s edges; the table, the condition, the lower edges of the
    grid's columns and rows, and the H3 ranges covering the tile (None for a kind without
    the H3 index, :data:`~geo_service.store.spatial_pages.INDEXED_KINDS`). The condition has
    no GiST term: it is read over the ranges, on the covering index alone (revision 0012)."""
    lon_edges, lat_edges = tile_grid(z, x, y, cell)
    box = (float(lon_edges[0]), float(lat_edges[0]), float(lon_edges[-1]), float(lat_edges[-1]))
    table, cond = record_filter(engine, kind, filters)
    cond &= table.c.lon.between(box[0], box[2]) & table.c.lat.between(box[1], box[3])
    cond &= (table.c.lon < box[2]) & (table.c.lat < box[3])
    ranges = cover_ranges(box) if kind in INDEXED_KINDS else None
    if ranges is None:  # no ranges: the GiST index finds the tile's records
        cond &= record_filter(engine, kind, None, box)[1]
    return table, cond, lon_edges[:-1].tolist(), lat_edges[:-1].tolist(), ranges


def aggregated_bins(
    engine: Engine,
    kind: str,
    filters: Filters,
    z: int,
    x: int,
    y: int,
    max_points: int,
    sums: Mapping[str, str] | None = None,
    cell: int = AGGREGATE_CELL,
) -> PointBins | None:
    """The aggregated points of tile ``z/x/y`` when more than ``max_points`` records of
    ``kind`` matching ``filters`` are inside it (its buffer left out; the count stops at
    ``max_points + 1``), else None.

    The database counts the records per cell of the tile's grid: ``width_bucket`` of
    ``lon`` and ``lat`` against the grid's edges, one ``GROUP BY``; count, sums of
    lon/lat (the mean position) and of ``sums`` (default :data:`AGGREGATE_SUMS` of the
    kind) per occupied cell.
    """
    sums = AGGREGATE_SUMS.get(kind, {}) if sums is None else sums
    table, cond, lon_lower, lat_lower, ranges = _in_tile(engine, kind, filters, z, x, y, cell)
    edges = ARRAY(DOUBLE_PRECISION)
    column = func.width_bucket(table.c.lon, bindparam("lon_edges", lon_lower, type_=edges)) - 1
    from_south = func.width_bucket(table.c.lat, bindparam("lat_edges", lat_lower, type_=edges)) - 1
    binned = select(
        column.label("col"),
        from_south.label("south"),
        table.c.lon,
        table.c.lat,
        *(table.c[c].label(f"v{i}") for i, c in enumerate(sums.values())),
    ).where(cond)
    h3_15 = table.c.h3_15
    inner = (
        union_all(*(binned.where(h3_15.between(lo, hi)) for lo, hi in ranges)).subquery("r")
        if ranges
        else binned.subquery("r")
    )
    query = select(
        inner.c.col,
        inner.c.south,
        func.count(),
        func.sum(inner.c.lon),
        func.sum(inner.c.lat),
        *(func.sum(inner.c[f"v{i}"]) for i in range(len(sums))),
    ).group_by(inner.c.col, inner.c.south)
    with engine.connect() as conn:
        counted = select(literal(1)).select_from(table).where(cond)
        if ranged_count(conn, counted, table, ranges, max_points) <= max_points:
            return None
        rows = conn.execute(query).all()
    n = len(lon_lower)
    cols = list(zip(*rows, strict=True)) if rows else [()] * (5 + len(sums))
    totals = {
        name: [float("nan") if v is None else float(v) for v in cols[5 + i]]
        for i, name in enumerate(sums)
    }
    rows_from_top = [n - 1 - int(v) for v in cols[1]]
    return PointBins.from_sums(
        z, x, y, cell, cols[0], rows_from_top, cols[2], cols[3], cols[4], totals
    )


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
    query = select(
        func.min(table.c.lon), func.min(table.c.lat), func.max(table.c.lon), func.max(table.c.lat)
    ).where(cond)
    with engine.connect() as conn:
        row = conn.execute(query).one()
    if row[0] is None:
        return None
    w, s, e, n = (float(v) for v in row)
    return w, s, e, n
