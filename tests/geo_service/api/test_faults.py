"""The store unreachable: every route that reads it answers 503 ``store_unavailable`` (JSON,
with a reason), and the same application answers again once the store is back.

PostgreSQL goes away behind a TCP forwarder the test starts in front of the shared
server (closing it drops every connection and refuses new ones); the SQLite file is
moved away and back. Neither needs the application restarted.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import os
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from geo_service.api.app import create_app
from geo_service.core.settings import Settings
from geo_service.ingest import IngestOptions, ingest_file
from geo_service.store import make_engine, migrate
from geo_service.store.boundaries import load_divisions
from tests.conftest import account_headers
from tests.geo_service.bulk_cases import CENTRE, write_cases_csv

N_CASES = 300


def _tile(z: int) -> str:
    """``z/x/y`` of the tile holding the generated cases' centre."""
    lon, lat = CENTRE
    n = 2**z
    y = (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n
    return f"{z}/{int((lon + 180) / 360 * n)}/{int(y)}"


def routes(case_id: str, query: str) -> list[str]:
    """One request of each kind that reads the store; ``query`` varies the analytic layers
    so that the tiles' in-memory layers do not answer for the store."""
    return [
        "/healthz",
        "/collections",
        f"/collections/cases/items?limit=5&{query}",
        f"/collections/cases/items/{case_id}",
        f"/stats/cases?{query}",
        f"/tiles/hexagons/{_tile(9)}.mvt?{query}",
        f"/tiles/kde/{_tile(8)}.png?{query}",
        f"/maps/hexagons?{query}",
        f"/downloads/cases.csv?{query}",
    ]


def _answers(client: TestClient, paths: list[str], headers: dict[str, str]) -> dict[str, int]:
    return {path: client.get(path, headers=headers).status_code for path in paths}


def _unavailable(client: TestClient, paths: list[str], headers: dict[str, str]) -> None:
    for path in paths:
        response = client.get(path, headers=headers)
        assert response.status_code == 503, (path, response.status_code, response.text[:300])
        assert response.headers["content-type"].startswith("application/json"), path
        body = response.json()
        assert body["code"] == "store_unavailable", (path, body)
        assert body["description"], path


def _fill(engine: Engine, folder: Path) -> tuple[str, dict[str, str]]:
    """A few hundred cases in ``engine``'s store; a case id and an admin's headers."""
    path = folder / "cases.csv"
    write_cases_csv(path, N_CASES, seed=5, prefix="F")
    options = IngestOptions(
        kind="cases",
        rejects_path=folder / "rejects.csv",
        progress=False,
        today=dt.date(2026, 11, 28),
    )
    assert ingest_file(engine, path, options)["accepted"] == N_CASES
    return "F-1", account_headers(engine)


def _outage_and_recovery(
    client: TestClient,
    case_id: str,
    headers: dict[str, str],
    down: Callable[[], None],
    up: Callable[[], None],
) -> None:
    """200 everywhere; 503 everywhere while down; 200 again once up, same client and app."""
    before = _answers(client, routes(case_id, "period=2024"), headers)
    assert set(before.values()) == {200}, before
    down()
    _unavailable(client, routes(case_id, "period=2023"), headers)
    up()
    after = _answers(client, routes(case_id, "period=2023"), headers)
    assert set(after.values()) == {200}, after


# ---------------------------------------------------------------- SQLite


@pytest.fixture
def sqlite_file_store(tmp_path: Path, divisions_gdf) -> Iterator[Path]:  # type: ignore[no-untyped-def]
    """A SQLite store of its own (its file is moved about), with cases; its path."""
    path = tmp_path / "store" / "geo.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    load_divisions(engine, divisions_gdf)
    yield path
    engine.dispose()


def _move(source: Path, target: Path) -> None:
    """Move a SQLite database with its WAL and shared-memory files, as an operator would."""
    for suffix in ("", "-wal", "-shm"):
        if Path(f"{source}{suffix}").exists():
            os.replace(f"{source}{suffix}", f"{target}{suffix}")


def test_sqlite_store_moved_away_is_503_and_back_is_200(
    sqlite_file_store: Path, tmp_path: Path
) -> None:
    path = sqlite_file_store
    engine = make_engine(f"sqlite:///{path}")
    case_id, headers = _fill(engine, tmp_path)
    engine.dispose()
    client = TestClient(create_app(Settings(database_url=f"sqlite:///{path}")))
    aside = tmp_path / "aside.db"
    _outage_and_recovery(
        client, case_id, headers, down=lambda: _move(path, aside), up=lambda: _move(aside, path)
    )
    # while it was away, nothing was created in its place (no empty store, no stray WAL)
    assert not aside.exists() and path.exists()


def test_sqlite_store_missing_at_start_is_503_until_it_appears(
    sqlite_file_store: Path, tmp_path: Path
) -> None:
    path = sqlite_file_store
    engine = make_engine(f"sqlite:///{path}")
    case_id, headers = _fill(engine, tmp_path)
    engine.dispose()
    client = TestClient(create_app(Settings(database_url=f"sqlite:///{path}")))
    aside = tmp_path / "aside.db"
    _move(path, aside)  # gone before the application has opened it
    _unavailable(client, routes(case_id, "period=2024"), headers)
    assert sorted(p.name for p in path.parent.iterdir()) == []  # no empty store left in its place
    _move(aside, path)
    answers = _answers(client, routes(case_id, "period=2024"), headers)
    assert set(answers.values()) == {200}, answers


# ---------------------------------------------------------------- PostgreSQL


class TcpForwarder:
    """A TCP forwarder on a free loopback port to ``target``; :meth:`close` drops every
    connection and refuses new ones, :meth:`open` listens again on the same port."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self._listener: socket.socket | None = None
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    def open(self) -> None:
        listener = socket.create_server(("127.0.0.1", self.port))
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def close(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread
            listener.close()
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            _drop(sock)

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:  # closed
                return
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                _drop(client)
                continue
            with self._lock:
                self._sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pump, args=(source, sink), daemon=True).start()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            sink.sendall(data)
    _drop(source)
    _drop(sink)


def _drop(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


@pytest.fixture
def forwarder(postgis_only_store: Engine) -> Iterator[TcpForwarder]:
    url = postgis_only_store.url
    proxy = TcpForwarder((url.host or "127.0.0.1", url.port or 5432))
    proxy.open()
    yield proxy
    proxy.close()


@pytest.mark.postgis
def test_postgis_server_unreachable_is_503_and_back_is_200(
    postgis_only_store: Engine, forwarder: TcpForwarder, tmp_path: Path
) -> None:
    case_id, headers = _fill(postgis_only_store, tmp_path)
    url = make_url(postgis_only_store.url).set(host="127.0.0.1", port=forwarder.port)
    settings = Settings(database_url=url.render_as_string(hide_password=False))
    client = TestClient(create_app(settings))
    _outage_and_recovery(client, case_id, headers, down=forwarder.close, up=forwarder.open)
