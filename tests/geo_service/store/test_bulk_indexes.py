"""Bulk loads drop a table's secondary indexes and rebuild them after, only where the
store allows it: SQLite for a batch as large as the table, PostgreSQL into an empty
table only (a dropped index locks its readers out until the batch commits)."""

from __future__ import annotations

import pytest
from sqlalchemy import Connection, Engine, Table

from geo_service.ingest.writer import _INDEX_STATEMENTS, BULK_ROWS, bulk_indexes, bulk_write
from geo_service.store.models import PenaltyCase


def _secondary(conn: Connection, table: Table) -> dict[str, str]:
    """The table's non-unique indexes, each with the statement the store keeps for it."""
    kept = conn.exec_driver_sql(_INDEX_STATEMENTS[conn.dialect.name], (table.name,))
    return {name: made for name, made in kept if " UNIQUE " not in f" {made.upper()} "}


def test_which_batches_are_written_without_their_indexes() -> None:
    assert bulk_write("sqlite", BULK_ROWS, BULK_ROWS)  # as large as the table
    assert not bulk_write("sqlite", BULK_ROWS, BULK_ROWS + 1)
    assert not bulk_write("sqlite", BULK_ROWS - 1, 0)  # small: through the indexes
    assert bulk_write("postgresql", BULK_ROWS, 0)  # into an empty table
    assert not bulk_write("postgresql", 10 * BULK_ROWS, 1)  # its readers must not wait
    assert not bulk_write("postgresql", BULK_ROWS - 1, 0)
    assert not bulk_write("mysql", 10 * BULK_ROWS, 0)
    # written while its file is read: SQLite keeps the indexes up beside the reading
    assert not bulk_write("sqlite", 10 * BULK_ROWS, 0, overlapped=True)
    assert bulk_write("postgresql", BULK_ROWS, 0, overlapped=True)


def test_indexes_are_dropped_only_for_a_batch_as_large_as_the_table(
    sqlite_only_store: Engine,
) -> None:
    table: Table = PenaltyCase.__table__  # type: ignore[assignment]
    with sqlite_only_store.begin() as conn:
        every = _secondary(conn, table)
        assert {"ix_cases_decision_date", "sqlix_cases_h3_15"} <= set(every)
        with bulk_indexes(conn, table, BULK_ROWS, existing=BULK_ROWS // 2):
            assert _secondary(conn, table) == {}  # a first load: sorted once after
        assert _secondary(conn, table) == every  # each made again by its own statement
        # into a table larger than the batch: rebuilding would sort the whole table again
        with bulk_indexes(conn, table, 2 * BULK_ROWS, existing=3 * BULK_ROWS):
            assert _secondary(conn, table) == every
        with bulk_indexes(conn, table, BULK_ROWS - 1):  # a small batch: never
            assert _secondary(conn, table) == every


@pytest.mark.postgis
def test_postgres_drops_indexes_only_of_an_empty_table(postgis_only_store: Engine) -> None:
    table: Table = PenaltyCase.__table__  # type: ignore[assignment]
    with postgis_only_store.begin() as conn:
        every = _secondary(conn, table)
        assert {"ix_cases_geom", "pgix_cases_h3_15", "ix_cases_adcode_by_key"} <= set(every)
        with bulk_indexes(conn, table, BULK_ROWS, existing=0):
            assert _secondary(conn, table) == {}
            assert {"cases_pkey", "cases_case_id_key"} <= _all(conn, table)  # the upsert's
        assert _secondary(conn, table) == every
        with bulk_indexes(conn, table, 100 * BULK_ROWS, existing=1):
            assert _secondary(conn, table) == every
        conn.rollback()


@pytest.mark.postgis
def test_a_failed_bulk_batch_keeps_the_indexes(postgis_only_store: Engine) -> None:
    """The drop is part of the batch's transaction: a failure rolls it back too."""
    table: Table = PenaltyCase.__table__  # type: ignore[assignment]
    with postgis_only_store.connect() as conn:
        every = _secondary(conn, table)
    with (
        pytest.raises(RuntimeError, match="mid-batch"),
        postgis_only_store.begin() as conn,
        bulk_indexes(conn, table, BULK_ROWS, existing=0),
    ):
        assert _secondary(conn, table) == {}
        raise RuntimeError("mid-batch")
    with postgis_only_store.connect() as conn:
        assert _secondary(conn, table) == every


def _all(conn: Connection, table: Table) -> set[str]:
    return {
        name for name, _ in conn.exec_driver_sql(_INDEX_STATEMENTS["postgresql"], (table.name,))
    }
