"""Reads while an ingest writes see its batch whole or not at all, and none fails.

``geo-service ingest`` writes a large batch (updating an earlier batch's cases and adding
more) in a process of its own while the application answers
``/collections/cases/items`` (``numberMatched``) and ``/stats/cases`` in a loop. Part of
the reads are made with the ingest stopped half-way through writing, its transaction
open; the rest while it finishes and commits. SQLite readers work from the WAL,
PostgreSQL's from their MVCC snapshot. Every read's audit entry lands, though on SQLite
the ingest holds the one write lock while the reads are made.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

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
from tests.geo_service.bulk_cases import start_ingest, write_cases_csv

N_ROWS = 60_000
N_EARLIER = 3_000
READS_WHILE_STOPPED = 3

BOTH = ("/collections/cases/items", "/stats/cases")


@pytest.fixture
def sqlite_engine(tmp_path: Path, divisions_gdf) -> Iterator[Engine]:  # type: ignore[no-untyped-def]
    """An empty SQLite store of the test's own."""
    engine = make_engine(f"sqlite:///{tmp_path / 'geo.db'}")
    migrate(engine)
    load_divisions(engine, divisions_gdf)
    yield engine
    engine.dispose()


def _counter(client: TestClient, paths: tuple[str, ...], engine: Engine) -> Callable[[], list[int]]:
    """Cases as the items' ``numberMatched`` and as the sum of the ledger's rows."""
    headers = account_headers(engine)

    def count(path: str) -> int:
        response = client.get(path, params={"limit": 1} if "items" in path else {}, headers=headers)
        assert response.status_code == 200, (path, response.text[:300])
        if "items" in path:
            return int(response.json()["numberMatched"])
        return sum(row["cases"] for row in response.json()["rows"])

    return lambda: [count(path) for path in paths]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("backend", "paths"),
    [
        pytest.param("sqlite", ("/stats/cases",), id="sqlite-ledger"),
        pytest.param("sqlite", BOTH, id="sqlite-items-and-ledger"),
        pytest.param("postgis", BOTH, marks=pytest.mark.postgis, id="postgis-items-and-ledger"),
    ],
)
def test_reads_during_an_ingest_see_its_batch_whole_or_not_at_all(
    request: pytest.FixtureRequest, backend: str, paths: tuple[str, ...], tmp_path: Path
) -> None:
    fixture = "sqlite_engine" if backend == "sqlite" else "postgis_only_store"
    store_engine: Engine = request.getfixturevalue(fixture)
    earlier, big = tmp_path / "earlier.csv", tmp_path / "big.csv"
    before = write_cases_csv(earlier, N_EARLIER, seed=1, prefix="K", bad_every=1000)
    after = write_cases_csv(big, N_ROWS, seed=2, prefix="K", bad_every=1000)
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
    assert seen == [[before] * len(paths)]

    ingest = start_ingest(url, big, tmp_path / "big.rejects.csv")
    try:
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

    assert seen[1 : 1 + READS_WHILE_STOPPED] == [[before] * len(paths)] * READS_WHILE_STOPPED
    assert seen[-1] == [after] * len(paths)
    in_order = [n for read in seen for n in read]
    assert set(in_order) == {before, after}  # never a part of the batch
    first_after = in_order.index(after)
    assert set(in_order[first_after:]) == {after}  # once seen, the batch stays

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
