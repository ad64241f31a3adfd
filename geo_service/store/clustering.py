"""Rewriting the point-record tables of a PostGIS store in the order of their H3 cells.

The ingest appends records in file order, and files follow the key or the city, so the
records of one neighbourhood end up spread over nearly every heap page of a large
table: a dense bbox page or an aggregated tile then reads the whole table.
``CLUSTER … USING`` the B-tree on ``h3_15`` (0005) rewrites a table in H3 order, which
is hierarchical (a cell's children are contiguous at every resolution), so the records
of any small area lie on few pages. PostgreSQL does not keep that order for rows
written later: a bulk load is clustered once after it, and a store taking daily batches
is clustered again now and then (``geo-service cluster``); until then the new rows are
only what one batch adds. CLUSTER holds an exclusive lock on the table while it
rewrites it: reads wait. SQLite stores are left as they are.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from psycopg import sql
from sqlalchemy import Engine, text

#: The index each point-record table is clustered on (``pgix_…`` of revision 0005).
CLUSTER_INDEXES: Final[dict[str, str]] = {
    kind: f"pgix_{kind}_h3_15" for kind in ("cases", "inspections", "enterprises")
}
#: Sort memory for the rewrite (the server's default, 64 MB, spills a 10M-row sort to disk).
SORT_MEMORY: Final = "512MB"


@dataclass(frozen=True)
class Clustered:
    """One table rewritten: its kind, rows and how long the rewrite and VACUUM took."""

    kind: str
    rows: int
    seconds: float


def _statements(kind: str) -> tuple[sql.Composed, sql.Composed, sql.Composed]:
    """The CLUSTER, VACUUM ANALYZE and count of ``kind``'s table (a checked kind), its
    names quoted as identifiers by psycopg."""
    table, index = sql.Identifier(kind), sql.Identifier(CLUSTER_INDEXES[kind])
    return (
        sql.SQL("CLUSTER {} USING {}").format(table, index),
        sql.SQL("VACUUM ANALYZE {}").format(table),
        sql.SQL("SELECT count(*) FROM {}").format(table),
    )


def cluster_records(
    engine: Engine, kinds: Sequence[str] = tuple(CLUSTER_INDEXES)
) -> list[Clustered]:
    """Rewrite the tables of ``kinds`` in H3 order, vacuum and analyse them (PostgreSQL); on any
    other database nothing is done and the list is empty. ValueError for a kind with no
    clustering index."""
    unknown = [k for k in kinds if k not in CLUSTER_INDEXES]
    if unknown:
        raise ValueError(f"no point-record table to cluster: {', '.join(unknown)}")
    if engine.dialect.name != "postgresql":
        return []
    done = []
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(
            text("SELECT set_config('maintenance_work_mem', :mem, false)"), {"mem": SORT_MEMORY}
        )
        for kind in kinds:
            cluster, vacuum, count = _statements(kind)
            started = time.perf_counter()
            cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
            try:
                cursor.execute(cluster)
                # VACUUM too: the rewrite leaves no page marked all-visible, and the
                # index-only scans of bbox counts and aggregated tiles need them so
                cursor.execute(vacuum)
                cursor.execute(count)
                row = cursor.fetchone()
            finally:
                cursor.close()
            rows = int(row[0]) if row else 0
            done.append(Clustered(kind, rows, round(time.perf_counter() - started, 1)))
    return done
