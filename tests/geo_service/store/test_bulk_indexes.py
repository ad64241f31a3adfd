"""SQLite bulk loads drop the secondary indexes only for a batch as large as the table."""

from __future__ import annotations

from sqlalchemy import Engine, Table, inspect

from geo_service.ingest.writer import BULK_ROWS, bulk_indexes
from geo_service.store.models import PenaltyCase


def _secondary(conn, table: Table) -> set[str]:  # type: ignore[no-untyped-def]
    return {ix["name"] for ix in inspect(conn).get_indexes(table.name) if not ix["unique"]}


def test_indexes_are_dropped_only_for_a_batch_as_large_as_the_table(
    sqlite_only_store: Engine,
) -> None:
    table: Table = PenaltyCase.__table__  # type: ignore[assignment]
    with sqlite_only_store.begin() as conn:
        every = _secondary(conn, table)
        assert every  # decision date, credit code, adcodes …
        with bulk_indexes(conn, table, BULK_ROWS, existing=BULK_ROWS // 2):
            assert _secondary(conn, table) == set()  # a first load: sorted once after
        assert _secondary(conn, table) == every
        # into a table larger than the batch: rebuilding would sort the whole table again
        with bulk_indexes(conn, table, 2 * BULK_ROWS, existing=3 * BULK_ROWS):
            assert _secondary(conn, table) == every
        with bulk_indexes(conn, table, BULK_ROWS - 1):  # a small batch: never
            assert _secondary(conn, table) == every
