"""Shared fixtures: stores on both backends (SQLite and PostgreSQL + PostGIS)."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from geo_service.core.paths import BUNDLED_DIVISIONS
from geo_service.store import make_engine, migrate
from geo_service.store.boundaries import load_divisions, read_divisions_file
from geo_service.store.models import (
    INGEST_TABLES,
    AuditEntry,
    Draw,
    IngestBatch,
    InspectorExclusion,
    LayerBuild,
    LinkReview,
    RejectedRow,
)

# The rate limits, on by default for a deployed service, are off for the suite: its tests send
# bursts from one client address (tests/geo_service/api/test_limits.py sets limits explicitly).
os.environ.setdefault("GEO_RATE_LIMIT_PER_MINUTE", "0")
os.environ.setdefault("GEO_TILE_RATE_LIMIT_PER_MINUTE", "0")

POSTGRES_URL = os.environ.get(
    "GEO_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
IN_CI = os.environ.get("CI", "").lower() == "true"


def _postgres_database(worker: str, suffix: str = "") -> str:
    """Create a fresh database for this test worker on the PostgreSQL server; its URL."""
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    # GEO_TEST_DB_TAG keeps the databases of suites run side by side apart
    name = f"geo_test_{os.environ.get('GEO_TEST_DB_TAG', '')}{worker}{suffix}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
            available = conn.execute(
                text("SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'")
            ).scalar()
    finally:
        admin.dispose()
    if not available:
        raise RuntimeError("the PostGIS extension is not installed on the server")
    return make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)


@contextmanager
def scratch_postgres(worker: str, suffix: str) -> Iterator[Engine]:
    """An empty PostgreSQL database of its own (no schema) for one test, dropped after it;
    skipped (failed under CI=true) when the server or PostGIS is unavailable."""
    try:
        url = _postgres_database(worker, suffix)
    except Exception as exc:  # connection refused, missing extension, ...
        _unavailable(str(exc).splitlines()[0])
    engine = make_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()
        admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
        admin.dispose()


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"PostGIS store required under CI=true: {reason}")
    pytest.skip(f"PostGIS store unavailable: {reason}")


@pytest.fixture(scope="session")
def divisions_gdf():  # type: ignore[no-untyped-def]
    """The bundled Guangxi divisions (read once)."""
    return read_divisions_file(BUNDLED_DIVISIONS)


def _prepared(engine: Engine, divisions_gdf) -> Engine:  # type: ignore[no-untyped-def]
    migrate(engine)
    load_divisions(engine, divisions_gdf)
    return engine


@pytest.fixture(scope="session")
def sqlite_store(tmp_path_factory: pytest.TempPathFactory, divisions_gdf) -> Iterator[Engine]:  # type: ignore[no-untyped-def]
    path = tmp_path_factory.mktemp("store") / "geo.db"
    engine = _prepared(make_engine(f"sqlite:///{path}"), divisions_gdf)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def postgis_store(worker_id: str, divisions_gdf) -> Iterator[Engine]:  # type: ignore[no-untyped-def]
    try:
        url = _postgres_database(worker_id)
        engine = _prepared(make_engine(url), divisions_gdf)
    except Exception as exc:  # connection refused, missing extension, ...
        _unavailable(str(exc).splitlines()[0])
    yield engine
    engine.dispose()


def _clear_records(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(RejectedRow.__table__.delete())
        conn.execute(LinkReview.__table__.delete())
        conn.execute(InspectorExclusion.__table__.delete())
        for model in INGEST_TABLES.values():
            conn.execute(model.__table__.delete())  # type: ignore[attr-defined]
        conn.execute(Draw.__table__.delete())
        conn.execute(IngestBatch.__table__.delete())
        # and the audit log: a test counting its reads' entries counts its own only
        conn.execute(AuditEntry.__table__.delete())
        # built layers too: SQLite hands out the cleared batch ids again, so a later test's
        # data version would match a build made from an earlier test's records
        conn.execute(LayerBuild.__table__.delete())


@pytest.fixture(params=["sqlite", pytest.param("postgis", marks=pytest.mark.postgis)])
def store(request: pytest.FixtureRequest) -> Iterator[Engine]:
    """A migrated store with the Guangxi divisions and no records, on each backend."""
    engine: Engine = request.getfixturevalue(f"{request.param}_store")
    _clear_records(engine)
    yield engine


@pytest.fixture
def postgis_only_store(postgis_store: Engine) -> Iterator[Engine]:
    """The PostGIS store alone, emptied of records, for PostGIS-specific checks."""
    _clear_records(postgis_store)
    yield postgis_store


@pytest.fixture
def sqlite_only_store(sqlite_store: Engine) -> Iterator[Engine]:
    """The SQLite store alone, for tests about files rather than backends."""
    _clear_records(sqlite_store)
    yield sqlite_store


@dataclass(frozen=True)
class SampleStore:
    """The committed sample slice ingested into a store of its own."""

    engine: Engine
    summaries: dict[str, dict[str, Any]]
    rejects: Path  # folder of <kind>.csv rejects files


@pytest.fixture(scope="session")
def sample_store(tmp_path_factory: pytest.TempPathFactory, divisions_gdf) -> SampleStore:  # type: ignore[no-untyped-def]
    """The sample slice in a SQLite store shared by the tests that only read it."""
    from geo_service.core.paths import SAMPLE_SLICE
    from geo_service.ingest import IngestOptions, ingest_file

    out = tmp_path_factory.mktemp("sample_store")
    engine = _prepared(make_engine(f"sqlite:///{out / 'geo.db'}"), divisions_gdf)
    summaries = {}
    for kind in ("enterprises", "cases", "inspections"):
        options = IngestOptions(
            kind=kind, rejects_path=out / f"{kind}.csv", progress=False, today=dt.date(2026, 11, 28)
        )
        summaries[kind] = ingest_file(engine, SAMPLE_SLICE / f"{kind}.csv", options)
    return SampleStore(engine, summaries, out)


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temporary working folder for commands that write relative paths."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(scope="session")
def built_sample_store(tmp_path_factory: pytest.TempPathFactory, divisions_gdf) -> Engine:  # type: ignore[no-untyped-def]
    """The sample slice in a store of its own with every layer built (what `make run` serves)."""
    out = tmp_path_factory.mktemp("built_sample")
    engine = _prepared(make_engine(f"sqlite:///{out / 'geo.db'}"), divisions_gdf)
    return _built_sample(engine, out)


@pytest.fixture(scope="session")
def built_postgis_sample_store(  # type: ignore[no-untyped-def]
    tmp_path_factory: pytest.TempPathFactory, worker_id: str, divisions_gdf
) -> Iterator[Engine]:
    """:func:`built_sample_store` on PostGIS (a database of its own)."""
    with scratch_postgres(worker_id, "_built") as engine:
        _prepared(engine, divisions_gdf)
        yield _built_sample(engine, tmp_path_factory.mktemp("built_postgis_sample"))


def _built_sample(engine: Engine, out: Path) -> Engine:
    from geo_service.builds.run import build_layers
    from geo_service.core.filters import Filters
    from geo_service.core.paths import SAMPLE_SLICE
    from geo_service.ingest import IngestOptions, ingest_file

    for kind in ("enterprises", "cases", "inspections", "projects"):
        options = IngestOptions(
            kind=kind, rejects_path=out / f"{kind}.csv", progress=False, today=dt.date(2026, 11, 28)
        )
        ingest_file(engine, SAMPLE_SLICE / f"{kind}.csv", options)
    summary = build_layers(engine, Filters())
    assert summary["skipped"] == [], summary["skipped"]  # the sample gives every layer
    return engine


@dataclass(frozen=True)
class LiveServer:
    """The real service (uvicorn on a free loopback port) over the built sample store."""

    url: str
    engine: Engine
    api_key: str  # of an admin of the whole region
    log: Path | None = None  # the server's output (uvicorn's access log: request lines)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def live_server(
    built_sample_store: Engine, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """`geo-service serve` (uvicorn) in a process of its own over the built sample store.

    A separate process, not a thread: GDAL holds the GIL while it waits on HTTP.
    """
    with serve_store(built_sample_store, tmp_path_factory.mktemp("live_server")) as server:
        yield server


@contextmanager
def serve_store(engine: Engine, log_dir: Path, **settings: str) -> Iterator[LiveServer]:
    """`geo-service serve` over ``engine``'s store on a free port, with ``GEO_*`` settings
    (``tile_max_points="50"``) besides the environment's; stopped on exit."""
    import subprocess
    import sys
    import time
    import urllib.request

    url = engine.url.render_as_string(hide_password=False)
    port = free_port()
    log = log_dir / "serve.log"
    env = {
        **os.environ,
        "GEO_DATABASE_URL": url,
        "GEO_PROGRESS": "false",
        **{f"GEO_{k.upper()}": v for k, v in settings.items()},
    }
    with log.open("w") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "geo_service",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):  # bounded wait for the service to answer
            if proc.poll() is not None:
                pytest.fail(f"the test server exited: {log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=2):
                    break
            except OSError:
                time.sleep(0.05)
        else:
            pytest.fail("the test server did not answer /healthz")
        key = account_headers(engine)["Authorization"].removeprefix("Bearer ")
        yield LiveServer(base, engine, key, log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def account_headers(
    engine: Engine, role: str = "admin", jurisdiction: str = "450000"
) -> dict[str, str]:
    """Headers of a new account (by default an admin of the whole Guangxi region)."""
    from uuid import uuid4

    from geo_service.access.policy import add_account

    key = add_account(engine, f"test-{role}-{uuid4().hex[:10]}", role, jurisdiction)
    return {"Authorization": f"Bearer {key}"}
