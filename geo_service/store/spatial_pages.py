"""Pages of point records in a bbox, in the order of their H3 cell, then their key.

Ordered by the natural key alone, a bbox page has to look at every record in the box
before it knows which come first (half a million over dense Nanning on the 10M store:
seconds a page). In the order of ``h3_15`` (the records' res-15 H3 cells, an integer
whose bits are the cell's path down the hierarchy), the B-tree on ``h3_15`` gives them
already in page order. The box is covered by a few H3 cells
(:func:`cover_ranges`), each the contiguous range of the res-15 ids of its
descendants; one ordered index scan per range, merged under ``ORDER BY … LIMIT``
(PostgreSQL's Merge Append), reads the page and the offset before it and stops. The
count (``numberMatched``, bounded) runs on the same ranges, on the index alone where it
covers the condition (PostgreSQL: revision 0012). SQLite's indexes (revision 0014) are
on (``h3_15``, key, lon, lat); each range is a subquery of its own there (SQLite takes
no LIMIT on a member of a UNION), and it sorts the few rows they give.

The next page starts after the previous page's last record: its cell is read back by
its key, so next links still carry the key alone (``after``); a key that is no longer
stored is a :class:`BadFilterError`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Final

import h3
from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    Connection,
    Select,
    Table,
    func,
    literal,
    select,
    tuple_,
    union_all,
)

from geo_service.core.errors import BadFilterError

if TYPE_CHECKING:
    from geo_service.store.queries import PageRequest

#: A box is covered by at most about this many H3 cells (before compaction): the
#: finest resolution that stays within it. More cells, more index scans to start.
COVER_CELLS: Final = 32
#: Boxes wider or taller than this (degrees) are not covered by cells: most of the
#: store is in them anyway, and H3's polygons take the short way round the globe.
COVER_MAX_DEG: Final = 20.0
#: The kinds whose tables have a B-tree on ``h3_15`` (PostgreSQL: revisions 0005, 0012;
#: SQLite: 0014).
INDEXED_KINDS: Final = frozenset({"cases", "inspections", "enterprises"})
_RES_BITS: Final = 0xF << 52
#: Sorted, disjoint (lowest, highest) ranges of res-15 H3 ids.
Ranges = list[tuple[int, int]]
_KM_PER_DEG: Final = 111.32


def _descendants(cell: int) -> tuple[int, int]:
    """The smallest and largest res-15 id under ``cell`` (digits below it 0 and 6)."""
    res = (cell >> 52) & 0xF
    free = 3 * (15 - res)
    lowest = (cell & ~_RES_BITS & ~((1 << free) - 1)) | (15 << 52)
    sixes = sum(6 << (3 * i) for i in range(15 - res))
    return lowest, lowest | sixes


def _cells(bbox: tuple[float, float, float, float], res: int) -> set[str]:
    """Cells of ``res`` overlapping ``bbox`` widened by two of their edges: an H3 cell's
    descendants stray a little outside it, so a record in the box may have an ancestor
    just outside (the margin takes it in)."""
    west, south, east, north = bbox
    pad_km = h3.average_hexagon_edge_length(res, "km")
    dlat = pad_km / _KM_PER_DEG
    dlon = pad_km / (_KM_PER_DEG * max(math.cos(math.radians(max(abs(south), abs(north)))), 0.01))
    south, north = max(south - dlat, -89.9), min(north + dlat, 89.9)
    west, east = west - dlon, east + dlon
    ring = [(south, west), (south, east), (north, east), (north, west)]
    return set(h3.h3shape_to_cells_experimental(h3.LatLngPoly(ring), res, contain="overlap"))


def cover_ranges(bbox: tuple[float, ...]) -> list[tuple[int, int]] | None:
    """Sorted, disjoint ranges of res-15 ids holding every record in the WGS84 ``bbox``
    (and some around it), from the finest covering of at most :data:`COVER_CELLS`
    cells, compacted; None for a box too large to cover (:data:`COVER_MAX_DEG`)."""
    west, south, east, north = (float(v) for v in bbox)
    if east - west > COVER_MAX_DEG or north - south > COVER_MAX_DEG or east < west:
        return None
    box = (west, south, east, north)
    chosen = _cells(box, 0)
    for res in range(1, 16):
        cells = _cells(box, res)
        if len(cells) > COVER_CELLS:
            break
        chosen = cells
    ranges = sorted(_descendants(h3.str_to_int(c)) for c in h3.compact_cells(list(chosen)))
    merged: list[tuple[int, int]] = []
    for low, high in ranges:
        if merged and low <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(high, merged[-1][1]))
        else:
            merged.append((low, high))
    return merged


def start_after(conn: Connection, table: Table, key: ColumnElement[Any], after: str) -> Any:
    """The condition "after the record ``after``" in (cell, key) order; BadFilterError
    when no record has that key."""
    cell = conn.execute(select(table.c.h3_15).where(key == after)).first()
    if cell is None:
        raise BadFilterError(f"after={after!r}: no record has this key (any more)")
    return tuple_(table.c.h3_15, key) > tuple_(cell[0], after)


def page_rows(
    conn: Connection,
    query: Select[Any],
    table: Table,
    key: ColumnElement[Any],
    ranges: list[tuple[int, int]] | None,
    offset: int,
    limit: int,
) -> list[Any]:
    """Rows ``offset`` to ``offset + limit`` of ``query`` in (cell, key) order. With
    ``ranges`` in two steps: the page's keys by one ordered scan per range,
    merged, on the covering index alone (revision 0012: an index scan would read the row
    of every record it passes, in the box or not), then the page's rows by their keys."""
    cell = table.c.h3_15
    if not ranges:
        return list(conn.execute(query.order_by(cell, key).offset(offset).limit(limit)).all())
    keyed = query.with_only_columns(cell, key, maintain_column_froms=True)
    parts = [
        keyed.where(cell.between(low, high)).order_by(cell, key).limit(offset + limit)
        for low, high in ranges
    ]
    merged = _union(conn, parts).subquery("inbox")
    ordered = select(merged.c[key.name]).order_by(merged.c.h3_15, merged.c[key.name])
    keys = list(conn.execute(ordered.offset(offset).limit(limit)).scalars())
    if not keys:
        return []
    return list(conn.execute(query.where(key.in_(keys)).order_by(cell, key)).all())


def _union(conn: Connection, parts: list[Select[Any]]) -> CompoundSelect[Any]:
    """``UNION ALL`` of ``parts``; on SQLite each one a subquery, where it may keep its
    ORDER BY and LIMIT."""
    if conn.dialect.name == "sqlite":
        return union_all(*(select(part.subquery()) for part in parts))
    return union_all(*parts)


def bounded_count(
    conn: Connection,
    counted: Select[Any],
    table: Table,
    ranges: list[tuple[int, int]] | None,
    limit: int | None,
) -> int:
    """How many rows ``counted`` gives, up to ``limit + 1``; over ``ranges`` one scan per
    range (on the index alone when it covers the condition), stopped at the limit."""
    if not ranges:
        capped = counted if limit is None else counted.limit(limit + 1)
        return int(conn.execute(select(func.count()).select_from(capped.subquery())).scalar_one())
    cell = table.c.h3_15
    parts = [counted.where(cell.between(low, high)) for low, high in ranges]
    if limit is not None:
        parts = [p.limit(limit + 1) for p in parts]
    every = _union(conn, parts).subquery("inbox")
    capped_all = select(every).limit(None if limit is None else limit + 1).subquery("capped")
    return int(conn.execute(select(func.count()).select_from(capped_all)).scalar_one())


def read_page(
    conn: Connection,
    kind: str,
    table: Table,
    query: Select[Any],
    key: ColumnElement[Any],
    page: PageRequest,
) -> tuple[list[Any], int]:
    """The rows of the bbox ``page`` of ``query`` (its conditions but the box) in (cell,
    key) order and how many match (up to ``page.count_limit + 1``): from ``page.after``
    when given, else ``offset``. The box is matched on lon/lat (edges included); on
    within the H3 ranges covering it when ``kind``'s table has the index."""
    assert page.bbox is not None
    west, south, east, north = (float(v) for v in page.bbox)
    query = query.where(table.c.lon.between(west, east), table.c.lat.between(south, north))
    ranges = cover_ranges(page.bbox) if kind in INDEXED_KINDS else None
    counted = query.with_only_columns(literal(1), maintain_column_froms=True)
    matched = bounded_count(conn, counted, table, ranges, page.count_limit)
    offset = page.offset
    if page.after is not None:
        query, offset = query.where(start_after(conn, table, key, page.after)), 0
    return page_rows(conn, query, table, key, ranges, offset, page.limit), matched
