"""An ingest killed (SIGKILL) in the middle of writing its batch leaves the store exactly as
it was before that batch, the store opens and migrates as before, and the same ingest run
again completes.

``geo-service ingest`` runs in a process of its own with its progress bar on a pseudo
terminal: the bar says how many rows the batch has written. The test waits until it shows
rows written but not all of them (on SQLite, past the point where a large batch has
dropped the table's secondary indexes), stops the process, checks the batch's transaction
is still open, and kills it (SIGKILL).
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from geo_service.ingest import IngestOptions, ingest_file
from geo_service.ingest.writer import BULK_ROWS
from geo_service.store import make_engine, migrate
from geo_service.store.boundaries import load_divisions
from tests.geo_service.bulk_cases import run_ingest, snapshot, start_ingest, write_cases_csv

N_ROWS = 60_000  # a large batch: on SQLite its secondary indexes are dropped and rebuilt
#: SQLite's bulk path writes 60,000 rows faster than a progress bar is drawn (0.1 s): a
#: batch ten times larger is seen while it writes.
SQLITE_ROWS = 600_000
N_EARLIER = 3_000  # an earlier batch, whose rows the large one updates
BAD_EVERY = 1_000  # rows with an impossible date: rejected rows in both batches


def kill_midway_then_rerun(
    engine: Engine,
    folder: Path,
    transaction_open: Callable[[], bool],
    settle: Callable[[], None],
    n_rows: int = N_ROWS,
    early: bool = False,
) -> None:
    """The whole check on one store (``engine``): an earlier batch, the large batch killed
    while it writes, the store compared with before, the large batch run again.

    ``early``: the batch is written group by group while the file is still read; it is
    killed as soon as its transaction is open (no bar counts those rows). Otherwise it
    is written once the file is read, and killed when its bar shows some rows written.
    """
    earlier, big = folder / "earlier.csv", folder / "big.csv"
    earlier_ok = write_cases_csv(earlier, N_EARLIER, seed=1, prefix="K", bad_every=BAD_EVERY)
    big_ok = write_cases_csv(big, n_rows, seed=2, prefix="K", bad_every=BAD_EVERY)
    assert big_ok >= BULK_ROWS
    options = IngestOptions(
        kind="cases",
        rejects_path=folder / "earlier.rejects.csv",
        progress=False,
        today=dt.date(2026, 11, 28),
    )
    assert ingest_file(engine, earlier, options)["accepted"] == earlier_ok
    before = snapshot(engine)
    assert before.counts["cases"] == earlier_ok and before.counts["rejected_rows"] > 0

    url = engine.url.render_as_string(hide_password=False)
    groups = {"GEO_INGEST_GROUP_CHUNKS": "2" if early else "0"}
    ingest = start_ingest(url, big, folder / "big.rejects.csv", groups)
    try:
        if early:
            ingest.wait_until(transaction_open)
        else:
            done, total = ingest.wait_until_writing()
        os.kill(ingest.process.pid, signal.SIGSTOP)
        # stopped: what is true now is true when it dies
        assert ingest.process.poll() is None, "the ingest ended before it was killed"
        assert transaction_open(), "the batch's transaction is not open at the kill"
        assert snapshot(engine) == before  # nothing of the open batch is visible
    finally:
        ingest.end()
    if not early:
        assert 0 < done < total == big_ok
    settle()

    reopened = make_engine(url)
    # records, batches, rejected rows and every index as before
    assert snapshot(reopened) == before
    migrate(reopened)  # the store opens and migrates as before
    reopened.dispose()

    summary = run_ingest(url, big, folder / "big.rejects.csv")
    assert summary["accepted"] == big_ok and summary["rejected"] == n_rows - big_ok
    assert summary["updated"] == earlier_ok  # the earlier batch's rows, updated in place
    assert summary["inserted"] == big_ok - earlier_ok
    after = snapshot(engine)
    assert after.counts["cases"] == big_ok
    assert after.counts["ingest_batches"] == before.counts["ingest_batches"] + 1
    assert after.counts["rejected_rows"] == before.counts["rejected_rows"] + n_rows - big_ok
    assert after.indexes == before.indexes


@pytest.mark.slow
@pytest.mark.parametrize("early", [False, True], ids=["after-reading", "while-reading"])
def test_sqlite_ingest_killed_midway_leaves_the_store_as_before(
    tmp_path: Path,
    divisions_gdf,  # type: ignore[no-untyped-def]
    early: bool,
) -> None:
    path = tmp_path / "geo.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    load_divisions(engine, divisions_gdf)

    def write_locked() -> bool:
        """Whether a writer holds the store (a write transaction is open)."""
        probe = sqlite3.connect(path, timeout=0)
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.rollback()
            return False
        except sqlite3.OperationalError as exc:
            assert "locked" in str(exc)
            return True
        finally:
            probe.close()

    def settle() -> None:
        # the killed writer's lock went with it, and the file is whole
        assert not write_locked()
        with sqlite3.connect(path) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]

    n_rows = N_ROWS if early else SQLITE_ROWS  # no bar to catch: the lock is caught instead
    kill_midway_then_rerun(engine, tmp_path, write_locked, settle, n_rows=n_rows, early=early)
    engine.dispose()


@pytest.mark.slow
@pytest.mark.postgis
@pytest.mark.parametrize("early", [False, True], ids=["after-reading", "while-reading"])
def test_postgis_ingest_killed_midway_leaves_the_store_as_before(
    postgis_only_store: Engine, tmp_path: Path, early: bool
) -> None:
    engine = postgis_only_store
    others = text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        " AND pid <> pg_backend_pid() AND backend_xid IS NOT NULL"
    )

    def writing() -> int:
        """Backends of other processes in a transaction that has written (an xid)."""
        with engine.connect() as conn:
            return int(conn.execute(others).scalar_one())

    def settle() -> None:
        # the server ends the killed client's backend and its transaction
        for _ in range(600):  # bounded wait for the server to notice the closed socket
            if writing() == 0:
                return
            with engine.connect() as conn:
                conn.execute(text("SELECT pg_sleep(0.05)"))
        pytest.fail("the killed ingest's transaction is still open on the server")

    kill_midway_then_rerun(engine, tmp_path, lambda: writing() == 1, settle, early=early)
