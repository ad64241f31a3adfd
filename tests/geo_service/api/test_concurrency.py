"""Reads while an ingest writes see its batch whole or not at all, and none fails.

``geo-service ingest`` writes a large batch (updating an earlier batch's cases and adding
more) in a process of its own while the application answers
``/collections/cases/items`` (``numberMatched`` within a box) and ``/stats/cases`` in a
loop. Part of
the reads are made with the ingest stopped half-way through writing, its transaction
open; the rest while it finishes and commits. SQLite readers work from the WAL,
PostgreSQL's from their MVCC snapshot. Every read's audit entry lands, though on SQLite
the ingest holds the one write lock while the reads are made.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from geo_service.access.policy import read_audit
from geo_service.api.app import create_app
from geo_service.core.settings import Settings
from geo_service.ingest import IngestOptions, ingest_file
from geo_service.store import make_engine, migrate
from geo_service.store.boundaries import load_divisions
from tests.conftest import account_headers
from tests.geo_service.bulk_cases import CENTRE, start_ingest, write_cases_csv

N_ROWS = 60_000
#: SQLite's bulk path writes 60,000 rows faster than a progress bar is drawn (0.1 s): a
#: batch ten times larger is seen while it writes.
SQLITE_ROWS = 600_000
N_EARLIER = 3_000
READS_WHILE_STOPPED = 3

ITEMS, LEDGER = "/collections/cases/items", "/stats/cases"
BOTH = (ITEMS, LEDGER)
#: Items are counted in a box around the centre (1/16 of the cases' spread, its edges
#: between the files' 6-decimal coordinates), so that ``numberMatched`` stays below the
#: count limit however large the batch.
HALF_SIDE = 0.06255
BBOX = (CENTRE[0] - HALF_SIDE, CENTRE[1] - HALF_SIDE, CENTRE[0] + HALF_SIDE, CENTRE[1] + HALF_SIDE)


@pytest.fixture
def sqlite_engine(tmp_path: Path, divisions_gdf) -> Iterator[Engine]:  # type: ignore[no-untyped-def]
    """An empty SQLite store of the test's own."""
    engine = make_engine(f"sqlite:///{tmp_path / 'geo.db'}")
    migrate(engine)
    load_divisions(engine, divisions_gdf)
    yield engine
    engine.dispose()


def _counter(client: TestClient, paths: tuple[str, ...], engine: Engine) -> Callable[[], list[int]]:
    """Cases as the items' ``numberMatched`` in ``BBOX`` and as the sum of the ledger's rows."""
    headers = account_headers(engine)
    bbox = ",".join(str(v) for v in BBOX)

    def count(path: str) -> int:
        params = {"limit": 1, "bbox": bbox} if path == ITEMS else {}
        response = client.get(path, params=params, headers=headers)
        assert response.status_code == 200, (path, response.text[:300])
        if path == ITEMS:
            return int(response.json()["numberMatched"])
        return sum(row["cases"] for row in response.json()["rows"])

    return lambda: [count(path) for path in paths]


def _write_locked(engine: Engine) -> bool:
    """Whether another connection holds the SQLite store's write lock."""
    probe = sqlite3.connect(str(engine.url.database), timeout=0)
    try:
        probe.execute("BEGIN IMMEDIATE")
        probe.rollback()
        return False
    except sqlite3.OperationalError:
        return True
    finally:
        probe.close()


def _expected(paths: tuple[str, ...], path: Path, accepted: int) -> list[int]:
    """What each path counts once the file at ``path`` is stored (it holds every case then):
    its accepted cases in ``BBOX`` for the items, all of them for the ledger."""
    frame = pd.read_csv(path, usecols=["decision_date", "lon", "lat"])
    good = frame[frame["decision_date"] != "2024-13-45"]
    assert len(good) == accepted
    inside = good["lon"].between(BBOX[0], BBOX[2]) & good["lat"].between(BBOX[1], BBOX[3])
    return [int(inside.sum()) if p == ITEMS else accepted for p in paths]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("backend", "paths", "early"),
    [
        pytest.param("sqlite", ("/stats/cases",), False, id="sqlite-ledger"),
        pytest.param("sqlite", BOTH, False, id="sqlite-items-and-ledger"),
        pytest.param("sqlite", BOTH, True, id="sqlite-items-and-ledger-while-reading"),
        pytest.param(
            "postgis", BOTH, False, marks=pytest.mark.postgis, id="postgis-items-and-ledger"
        ),
    ],
)
def test_reads_during_an_ingest_see_its_batch_whole_or_not_at_all(
    request: pytest.FixtureRequest,
    backend: str,
    paths: tuple[str, ...],
    early: bool,
    tmp_path: Path,
) -> None:
    """``early``: the batch is written while its file is read (stopped as soon as its
    transaction holds the write lock); otherwise once the file is read (stopped when
    its bar shows rows written)."""
    fixture = "sqlite_engine" if backend == "sqlite" else "postgis_only_store"
    store_engine: Engine = request.getfixturevalue(fixture)
    earlier, big = tmp_path / "earlier.csv", tmp_path / "big.csv"
    n_rows = SQLITE_ROWS if backend == "sqlite" and not early else N_ROWS
    accepted = write_cases_csv(earlier, N_EARLIER, seed=1, prefix="K", bad_every=1000)
    before = _expected(paths, earlier, accepted)
    accepted = write_cases_csv(big, n_rows, seed=2, prefix="K", bad_every=1000)
    after = _expected(paths, big, accepted)  # its ids include every earlier one
    assert all(0 < b < a for b, a in zip(before, after, strict=True))
    options = IngestOptions(
        kind="cases",
        rejects_path=tmp_path / "earlier.rejects.csv",
        progress=False,
        today=dt.date(2026, 11, 28),
    )
    ingest_file(store_engine, earlier, options)
    url = store_engine.url.render_as_string(hide_password=False)
    client = TestClient(create_app(Settings(database_url=url)))
    counts = _counter(client, paths, store_engine)
    seen = [counts()]
    assert seen == [before]

    groups = {"GEO_INGEST_GROUP_CHUNKS": "2" if early else "0"}
    ingest = start_ingest(url, big, tmp_path / "big.rejects.csv", groups)
    try:
        if early:
            ingest.wait_until(lambda: _write_locked(store_engine))
        else:
            ingest.wait_until_writing()
        os.kill(ingest.process.pid, signal.SIGSTOP)  # half written, its transaction open
        seen += [counts() for _ in range(READS_WHILE_STOPPED)]
        os.kill(ingest.process.pid, signal.SIGCONT)
        while ingest.process.poll() is None:  # reads while it writes the rest and commits
            seen.append(counts())
            ingest.drain()
    finally:
        status = ingest.end()
    assert status == 0
    seen.append(counts())

    assert seen[1 : 1 + READS_WHILE_STOPPED] == [before] * READS_WHILE_STOPPED
    assert seen[-1] == after
    for read in seen:  # never a part of the batch
        assert all(n in pair for n, pair in zip(read, zip(before, after, strict=True), strict=True))
    stored = [n == a for read in seen for n, a in zip(read, after, strict=True)]
    assert stored == sorted(stored)  # once seen, the batch stays

    # every read of point records is in the audit log, those made while the ingest held
    # SQLite's write lock included (journaled, then written once the lock was free)
    writer = client.app.state.audit_log
    assert writer.flush(timeout=60)
    item_reads = len(seen) if "/collections/cases/items" in paths else 0
    logged = read_audit(store_engine, limit=10_000)
    assert sum(e["resource"] == "/collections/cases/items" for e in logged) == item_reads
    if backend == "sqlite" and item_reads:  # those made with the ingest stopped waited
        assert writer.journaled >= READS_WHILE_STOPPED
        assert not writer.journal.exists()  # and left the journal once written
