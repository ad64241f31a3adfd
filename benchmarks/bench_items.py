"""Audited item pages under load: ``/collections/cases/items?limit=100&jurisdiction=450100``
with a key, 32 keep-alive connections, on SQLite and on PostGIS (issue 20).

Each store holds the bundled sample slice (PostGIS: a database of its own on
``GEO_BENCH_POSTGRES_URL``, dropped at the end; without a server its rows say so). Three
servers run side by side over the store, as ``geo-service serve`` runs them (access log
on, rate limits off): the service in one uvicorn worker; the same with its audit writer
replaced by one that stores nothing, the baseline of the same route unaudited; and the
service in two worker processes (``--workers 2``, one a core of this machine), each
with its own audit writer. The first server is also asked for the page with
``Accept-Encoding: gzip`` (as browsers and GDAL ask), and on SQLite for the cached z8
hexagon tile, the figure the issue compared with. The load comes from another process:
32 threads, each on a keep-alive ``http.client`` connection sending the request back to
back. The servers are measured in turns over several rounds, against drifting load
from the machine's other work; p50 and p99 are of every request of the rounds.

Besides requests per second, the server's CPU time per request is read from /proc, of
all its processes together (what one worker serves on a core of its own), and the
audit log is counted after the run: every answered audited request must have its entry
in the store. Where that CPU goes:
``python -m benchmarks.profile_items`` samples the same server under the same load.
"""

from __future__ import annotations

import functools
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from benchmarks.report import Row, best_of
from benchmarks.serving import (
    cpu_seconds,
    fill_store,
    free_port,
    sample_store,
    server_process,
    tile_of,
)

POSTGRES_URL = os.environ.get(
    "GEO_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
DATABASE = "geo_bench_items"
PAGE = "/collections/cases/items?limit=100&jurisdiction=450100"
CONCURRENCY = 32
#: Worker processes of the second audited server (``geo-service serve --workers 2``): one
#: a core of this machine.
WORKERS = 2
TARGET_RPS = 200.0
TARGET_P99_MS = 250.0
ROUNDS = 3
SECONDS = 10.0


# ---------------------------------------------------------------- the servers


def server_app() -> Any:
    """The service over ``GEO_DATABASE_URL``; with ``BENCH_UNAUDITED`` set, its audit writer
    is one that stores nothing (the same route, unaudited)."""
    from geo_service.access.audit import AuditLog
    from geo_service.api.app import create_app
    from geo_service.core.settings import get_settings

    app = create_app(get_settings())
    if os.environ.get("BENCH_UNAUDITED"):

        class Unaudited(AuditLog):
            def record(self, *_args: Any, **_kwargs: Any) -> None:
                return None

        app.state.audit_log = Unaudited(app.state.engine)
    return app


def _serve(port: int, workers: int = 1) -> None:
    """uvicorn as ``geo-service serve [--workers N]`` runs it, with its log configuration:
    one worker, or ``workers`` processes each building the service from the environment."""
    import uvicorn

    from geo_service.cli import serve, server_options
    from geo_service.core.settings import get_settings

    if workers > 1:
        serve(host="127.0.0.1", port=port, workers=workers)
        return
    uvicorn.run(server_app(), host="127.0.0.1", port=port, **server_options(get_settings()))


@contextmanager
def _server(url: str, unaudited: bool, workers: int = 1) -> Iterator[tuple[int, int]]:
    """A server over the store at ``url`` on a free loopback port: port, pid (with several
    ``workers``, of the process that started them)."""
    port = free_port()
    env = {
        **os.environ,
        "GEO_DATABASE_URL": url,
        "GEO_PROGRESS": "false",
        "GEO_RATE_LIMIT_PER_MINUTE": "0",
        "GEO_TILE_RATE_LIMIT_PER_MINUTE": "0",
        "BENCH_UNAUDITED": "1" if unaudited else "",
    }
    code = f"from benchmarks.bench_items import _serve; _serve({port}, {workers})"
    with server_process([sys.executable, "-c", code], env, port) as pid:
        yield port, pid


# ---------------------------------------------------------------- the load


def _load(
    port: int, path: str, key: str, seconds: float, threads: int, gzip: bool = False
) -> dict[str, Any]:
    """GETs of ``path`` back to back from ``threads`` keep-alive connections: latencies
    (ms) of the answers, their statuses and the bytes of their bodies as sent."""
    headers = {"Accept-Encoding": "gzip" if gzip else "identity"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    latencies: list[list[float]] = [[] for _ in range(threads)]
    statuses: list[dict[int, int]] = [{} for _ in range(threads)]
    sizes = [0] * threads
    stop = time.perf_counter() + seconds

    def loop(i: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        while time.perf_counter() < stop:
            started = time.perf_counter()
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            sizes[i] += len(response.read())
            latencies[i].append(1000 * (time.perf_counter() - started))
            statuses[i][response.status] = statuses[i].get(response.status, 0) + 1
        conn.close()

    workers = [threading.Thread(target=loop, args=(i,)) for i in range(threads)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    merged: dict[str, int] = {}
    for part in statuses:
        for status, n in part.items():
            merged[str(status)] = merged.get(str(status), 0) + n
    return {
        "elapsed_s": time.perf_counter() - started,
        "ms": [x for part in latencies for x in part],
        "statuses": merged,
        "bytes": sum(sizes),
    }


def _client(
    port: int, pid: int, path: str, key: str, seconds: float, gzip: bool = False
) -> dict[str, Any]:
    """One load run from a separate process, with the server's CPU seconds during it."""
    code = (
        "import json; from benchmarks.bench_items import _load; "
        f"print(json.dumps(_load({port}, {path!r}, {key!r}, {seconds}, {CONCURRENCY}, {gzip})))"
    )
    before = cpu_seconds(pid)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(out.stdout)
    result["cpu_s"] = cpu_seconds(pid) - before
    return result


def _summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    ms = np.array([x for r in runs for x in r["ms"]])
    elapsed = sum(r["elapsed_s"] for r in runs)
    statuses: dict[str, int] = {}
    for r in runs:
        for status, n in r["statuses"].items():
            statuses[status] = statuses.get(status, 0) + n
    return {
        "rps": len(ms) / elapsed,
        "round_rps": [len(r["ms"]) / r["elapsed_s"] for r in runs],
        "p50": float(np.percentile(ms, 50)),
        "p99": float(np.percentile(ms, 99)),
        "requests": len(ms),
        "ok": statuses.get("200", 0),
        "statuses": statuses,
        "cpu_ms": 1000 * sum(r["cpu_s"] for r in runs) / max(len(ms), 1),
        "kib": sum(r["bytes"] for r in runs) / max(len(ms), 1) / 1024,
    }


# ---------------------------------------------------------------- the stores


@contextmanager
def _postgis(folder: Path) -> Iterator[str | None]:
    """A database of its own on the PostgreSQL server, filled with the sample; None
    without a server."""
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{DATABASE}"'))
    except Exception:  # no server: nothing to measure
        admin.dispose()
        yield None
        return
    url = make_url(POSTGRES_URL).set(database=DATABASE).render_as_string(hide_password=False)
    try:
        fill_store(url, folder)
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'))
        admin.dispose()


def _account(url: str) -> tuple[str, str]:
    """A new admin account of the region: its name and key."""
    from geo_service.access.policy import add_account
    from geo_service.store import make_engine

    engine = make_engine(url)
    name = f"bench-items-{os.getpid()}-{time.time_ns()}"
    key = add_account(engine, name, "admin", "450000")
    engine.dispose()
    return name, key


def _entries(url: str, account: str) -> int:
    """Audit entries of ``account`` in the store."""
    from geo_service.store import make_engine
    from geo_service.store.models import AuditEntry

    engine = make_engine(url)
    with engine.connect() as conn:
        query = select(func.count()).where(AuditEntry.account == account)
        n = int(conn.execute(query.select_from(AuditEntry)).scalar_one())
    engine.dispose()
    return n


# ---------------------------------------------------------------- the benchmark


def measure(url: str, seconds: float, rounds: int, tile: bool) -> dict[str, Any]:
    """The audited page, the unaudited page (and the cached tile) in turns: summaries."""
    account, key = _account(url)
    z, x, y = tile_of(108.37, 22.82, 8)
    tile_path = f"/tiles/hexagons/{z}/{x}/{y}.mvt"
    runs: dict[str, list[dict[str, Any]]] = {
        "audited": [],
        "unaudited": [],
        "gzip": [],
        "workers": [],
        "tile": [],
    }
    with (
        _server(url, unaudited=False) as audited,
        _server(url, unaudited=True) as bare,
        _server(url, unaudited=False, workers=WORKERS) as several,
    ):
        # the division caches and the first page; longer turns reach every worker
        for (port, pid), warm_up in ((audited, 0.3), (bare, 0.3), (several, 1.0)):
            for _ in range(3):
                _client(port, pid, PAGE, key, warm_up)
        levels = _gzip_levels(audited[0], key)
        warm = _entries(url, account)  # the entries of the reads above
        if tile:
            _client(*audited, tile_path, "", 0.5)  # the layer built and the tile cached
        for i in range(rounds):
            turns = [
                ("audited", audited, PAGE, key, False),
                ("unaudited", bare, PAGE, key, False),
                ("gzip", audited, PAGE, key, True),
                ("workers", several, PAGE, key, False),
            ]
            if tile:
                turns.append(("tile", audited, tile_path, "", False))
            for name, (port, pid), path, secret, gzip in turns if i % 2 == 0 else turns[::-1]:
                runs[name].append(_client(port, pid, path, secret, seconds, gzip))
    out: dict[str, Any] = {name: _summary(r) for name, r in runs.items() if r}
    out["entries"] = _entries(url, account) - warm
    out["gzip_levels"] = levels
    out["load_after"] = os.getloadavg()[0]
    return out


def _gzip_levels(port: int, key: str) -> dict[int, tuple[float, int]]:
    """One page's body compressed at zlib's levels 6 and 9: ms (best of 20) and bytes."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    conn.request("GET", PAGE, headers={"Authorization": f"Bearer {key}"})
    body = conn.getresponse().read()
    conn.close()
    out = {}
    for level in (6, 9):
        seconds = best_of(20, functools.partial(zlib.compress, body, level))
        out[level] = (1000 * seconds, len(zlib.compress(body, level)))
    return out


def _meets(summary: dict[str, Any]) -> bool:
    """The target of issue 20: the rate and the p99 reached, every request answered."""
    return bool(
        summary["rps"] >= TARGET_RPS
        and summary["p99"] <= TARGET_P99_MS
        and summary["ok"] == summary["requests"]
    )


def _rows(store: str, result: dict[str, Any] | None, quick: bool, seconds: float) -> list[Row]:
    if result is None:
        return [
            Row(
                work=f"audited item pages at concurrency {CONCURRENCY}, {store}",
                figure="not measured: no PostgreSQL server at GEO_BENCH_POSTGRES_URL",
                target="—",
                met=None,
                baseline="—",
                baseline_figure="—",
            )
        ]
    a, u, g, w = result["audited"], result["unaudited"], result["gzip"], result["workers"]
    levels = result["gzip_levels"]
    audited = a["ok"] + g["ok"] + w["ok"]
    logged = result["entries"] == audited  # every answered audited read
    setting = (
        f"{len(a['round_rps'])} rounds of {seconds:.0f} s in turns, {CONCURRENCY} keep-alive "
        f"connections from a separate process, uvicorn (1 worker, access log on), sample "
        f"slice; 1-min load average after {result['load_after']:.1f} on {os.cpu_count()} cores"
    )
    rows = [
        Row(
            work=f"audited item pages (`{PAGE}`, an admin's key) at concurrency "
            f"{CONCURRENCY}, {store}",
            figure=f"{a['rps']:,.0f} req/s; p50 {a['p50']:.0f} ms, p99 {a['p99']:.0f} ms",
            target=f"≥ {TARGET_RPS:.0f} req/s, p99 ≤ {TARGET_P99_MS:.0f} ms",
            met=None if quick else _meets(a) and logged,
            baseline="the same page with the audit writer storing nothing, a server of its own",
            baseline_figure=f"{u['rps']:,.0f} req/s; p50 {u['p50']:.0f} ms, p99 {u['p99']:.0f} ms",
            note=f"{a['requests']:,} requests, statuses {a['statuses']}, {a['kib']:.0f} KiB "
            f"each (identity); audit entries stored for the audited reads of the run: "
            f"{result['entries']:,} of {audited:,}; server CPU {a['cpu_ms']:.1f} ms "
            f"per request (unaudited {u['cpu_ms']:.1f} ms), i.e. {1000 / a['cpu_ms']:.0f} "
            f"req/s on a core of its own; rounds (req/s) "
            f"{', '.join(f'{v:.0f}' for v in a['round_rps'])} vs "
            f"{', '.join(f'{v:.0f}' for v in u['round_rps'])}; {setting}",
        ),
        Row(
            work=f"… the same, asked with `Accept-Encoding: gzip` (browsers, GDAL), {store}",
            figure=f"{g['rps']:,.0f} req/s; p50 {g['p50']:.0f} ms, p99 {g['p99']:.0f} ms",
            target="—",
            met=None,
            baseline="—",
            baseline_figure="—",
            note=f"{g['requests']:,} requests, statuses {g['statuses']}, {g['kib']:.0f} KiB "
            f"each; server CPU {g['cpu_ms']:.1f} ms per request (GZipMiddleware at level 6: "
            f"one page {levels[6][0]:.1f} ms, {levels[6][1] / 1024:.1f} KiB; at level 9, "
            f"the middleware's default, {levels[9][0]:.1f} ms, {levels[9][1] / 1024:.1f} "
            f"KiB); measured in turns with the row above",
        ),
    ]
    rows.append(
        Row(
            work=f"… the same, served by {WORKERS} worker processes (`geo-service serve "
            f"--workers {WORKERS}`), {store}",
            figure=f"{w['rps']:,.0f} req/s; p50 {w['p50']:.0f} ms, p99 {w['p99']:.0f} ms",
            target=f"≥ {TARGET_RPS:.0f} req/s, p99 ≤ {TARGET_P99_MS:.0f} ms",
            met=None if quick else _meets(w) and logged,
            baseline="the one-worker audited server, the first row of this store",
            baseline_figure=f"{a['rps']:,.0f} req/s; p50 {a['p50']:.0f} ms, p99 {a['p99']:.0f} ms",
            note=f"{w['requests']:,} requests, statuses {w['statuses']}; each worker its own "
            f"audit writer, its entries counted in the first row's; server CPU "
            f"{w['cpu_ms']:.1f} ms per request (the workers' and the process that started "
            f"them); rounds (req/s) {', '.join(f'{v:.0f}' for v in w['round_rps'])}; the "
            f"clients share the {os.cpu_count()} cores; measured in turns with the rows above",
        )
    )
    if "tile" in result:
        t = result["tile"]
        rows.append(
            Row(
                work=f"for comparison: a cached z8 hexagon tile (anonymous) at concurrency "
                f"{CONCURRENCY}, {store}, the same server",
                figure=f"{t['rps']:,.0f} req/s; p50 {t['p50']:.0f} ms, p99 {t['p99']:.0f} ms",
                target="—",
                met=None,
                baseline="—",
                baseline_figure="—",
                note=f"{t['requests']:,} requests, statuses {t['statuses']}; server CPU "
                f"{t['cpu_ms']:.2f} ms per request; measured in turns with the rows above",
            )
        )
    return rows


def run(quick: bool = False) -> list[Row]:
    """Audited item pages on SQLite, then on PostGIS."""
    seconds = 2.0 if quick else SECONDS
    rounds = 1 if quick else ROUNDS
    with tempfile.TemporaryDirectory() as folder:
        sqlite_url = sample_store(Path(folder))
        out = _rows("SQLite", measure(sqlite_url, seconds, rounds, tile=True), quick, seconds)
        with _postgis(Path(folder)) as pg_url:
            result = measure(pg_url, seconds, rounds, tile=False) if pg_url else None
        return out + _rows("PostGIS", result, quick, seconds)
