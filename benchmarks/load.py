"""Load: the real server under a steady mix of tile, items and map requests for 60 s.

``python -m benchmarks.load [--seconds S] [--concurrency N] [--store URL] [--no-doc]``
(also part of ``make bench``). The server is ``geo-service serve`` in a process of
its own over a store holding the bundled sample slice with every layer built (what
``geo-service demo`` serves; made in a temporary folder unless ``--store`` names
one). The load comes from another process: ``--concurrency`` threads, each on a
keep-alive ``http.client`` connection, sending back to back a seeded mix of

- hexagon vector tiles ``/tiles/hexagons/{z}/{x}/{y}.mvt`` (z7–z9 over Guangxi),
- KDE heat tiles ``/tiles/kde/{z}/{x}/{y}.png`` (the same tiles),
- case records ``/collections/cases/items?limit=100&offset=…`` (every page),
- the hexagon map page ``/maps/hexagons``,

as an admin of the region. Every URL is asked once before the run (the tiles made
and cached, the layers loaded), so the figures are those of a service in use.
Reported: requests/s, p50/p99 latency per kind and overall, errors (anything but
200/204, or a failed connection), and the server's resident memory (VmRSS) before
the run, half-way, after it and at its highest; memory is bounded when it grew by less
than 5 % over the second half. Rate limits are off: this measures the service, not
its limiter.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import random
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.report import Row, markdown, update_doc
from benchmarks.serving import (
    busy_cpu_seconds,
    cpu_seconds,
    free_port,
    rss_mib,
    sample_store,
    server_process,
)

SECONDS = 60.0
CONCURRENCY = 8
#: Share of each kind of request in the mix.
MIX = {
    "hexagon tile (MVT)": 0.45,
    "KDE tile (PNG)": 0.25,
    "items (100 cases)": 0.2,
    "map page (/maps/hexagons)": 0.1,
}
GUANGXI = (104.45, 20.9, 112.07, 26.4)  # west, south, east, north (degrees)
ZOOMS = (7, 8, 9)
OK = {200, 204}


def tiles_over(bounds: tuple[float, float, float, float], zoom: int) -> list[tuple[int, int, int]]:
    """Every web-mercator tile ``(z, x, y)`` of ``zoom`` meeting ``bounds`` (lon/lat)."""
    west, south, east, north = bounds
    n = 2**zoom

    def x_of(lon: float) -> int:
        return int((lon + 180) / 360 * n)

    def y_of(lat: float) -> int:
        return int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)

    return [
        (zoom, x, y)
        for x in range(x_of(west), x_of(east) + 1)
        for y in range(y_of(north), y_of(south) + 1)
    ]


@dataclass(frozen=True)
class Plan:
    """What the load process asks for: the URLs of each kind, their shares, the key."""

    port: int
    seconds: float
    concurrency: int
    api_key: str
    urls: dict[str, list[str]]
    shares: dict[str, float]

    def to_json(self) -> str:
        return json.dumps(self.__dict__)


def plan_urls(n_cases: int) -> dict[str, list[str]]:
    """The URLs of each kind of request."""
    tiles = [t for z in ZOOMS for t in tiles_over(GUANGXI, z)]
    kinds = list(MIX)
    return {
        kinds[0]: [f"/tiles/hexagons/{z}/{x}/{y}.mvt" for z, x, y in tiles],
        kinds[1]: [f"/tiles/kde/{z}/{x}/{y}.png" for z, x, y in tiles],
        kinds[2]: [
            f"/collections/cases/items?limit=100&offset={o}" for o in range(0, max(n_cases, 1), 100)
        ],
        kinds[3]: ["/maps/hexagons"],
    }


# ---------------------------------------------------------------- the load process


def _worker(plan: Plan, seed: int, stop: float, out: list[tuple[str, float, int]]) -> None:
    """Requests back to back on one keep-alive connection until ``stop``: (kind, s, status)."""
    rng = random.Random(seed)
    kinds, weights = list(plan.shares), list(plan.shares.values())
    headers = {"Authorization": f"Bearer {plan.api_key}", "Accept-Encoding": "gzip"}
    conn = http.client.HTTPConnection("127.0.0.1", plan.port, timeout=120)
    while time.perf_counter() < stop:
        kind = rng.choices(kinds, weights)[0]
        url = rng.choice(plan.urls[kind])
        started = time.perf_counter()
        try:
            conn.request("GET", url, headers=headers)
            response = conn.getresponse()
            response.read()
            status = response.status
        except (OSError, http.client.HTTPException):
            status = 0  # a failed connection: counted as an error, and a new one opened
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", plan.port, timeout=120)
        out.append((kind, time.perf_counter() - started, status))
    conn.close()


def run_load(plan: Plan) -> dict[str, Any]:
    """Hold the load for ``plan.seconds``; per kind: requests, errors, latencies (ms)."""
    results: list[list[tuple[str, float, int]]] = [[] for _ in range(plan.concurrency)]
    stop = time.perf_counter() + plan.seconds
    threads = [
        threading.Thread(target=_worker, args=(plan, 1000 + i, stop, results[i]))
        for i in range(plan.concurrency)
    ]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    done = [r for part in results for r in part]
    summary: dict[str, Any] = {"elapsed_s": elapsed, "kinds": {}}
    for kind in [*plan.shares, "overall"]:
        mine = [r for r in done if kind in ("overall", r[0])]
        ms = np.array([r[1] for r in mine]) * 1000
        summary["kinds"][kind] = {
            "requests": len(mine),
            "errors": sum(r[2] not in OK for r in mine),
            "statuses": {
                str(s): sum(r[2] == s for r in mine) for s in sorted({r[2] for r in mine})
            },
            "p50_ms": float(np.percentile(ms, 50)) if len(ms) else float("nan"),
            "p99_ms": float(np.percentile(ms, 99)) if len(ms) else float("nan"),
        }
    return summary


def _client_main(plan_path: str) -> None:
    plan = Plan(**json.loads(Path(plan_path).read_text()))
    print(json.dumps(run_load(plan)))


# ---------------------------------------------------------------- the server and its store


def _admin_key(url: str) -> tuple[str, int]:
    """A new admin account of the region (its key) and the number of cases in the store."""
    from sqlalchemy import func, select

    from geo_service.access.policy import add_account
    from geo_service.store import make_engine
    from geo_service.store.models import PenaltyCase

    engine = make_engine(url)
    key = add_account(engine, f"load-{os.getpid()}-{time.time_ns()}", "admin", "450000")
    with engine.connect() as conn:
        n_cases = int(conn.execute(select(func.count()).select_from(PenaltyCase)).scalar_one())
    engine.dispose()
    return key, n_cases


@contextmanager
def serving(url: str) -> Iterator[tuple[int, int]]:
    """``geo-service serve`` on a free loopback port over the store at ``url``: port, pid."""
    port = free_port()
    env = {
        **os.environ,
        "GEO_DATABASE_URL": url,
        "GEO_PROGRESS": "false",
        "GEO_RATE_LIMIT_PER_MINUTE": "0",
        "GEO_TILE_RATE_LIMIT_PER_MINUTE": "0",
    }
    command = [
        sys.executable,
        "-m",
        "geo_service",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    with server_process(command, env, port) as pid:
        yield port, pid


def warm(plan: Plan) -> tuple[float, int]:
    """Ask every URL of the plan once (tiles made and cached): seconds, non-OK answers."""
    headers = {"Authorization": f"Bearer {plan.api_key}", "Accept-Encoding": "gzip"}
    conn = http.client.HTTPConnection("127.0.0.1", plan.port, timeout=300)
    bad = 0
    started = time.perf_counter()
    for urls in plan.urls.values():
        for url in urls:
            conn.request("GET", url, headers=headers)
            response = conn.getresponse()
            response.read()
            bad += response.status not in OK
    conn.close()
    return time.perf_counter() - started, bad


# ---------------------------------------------------------------- the benchmark


def measure(url: str, seconds: float, concurrency: int) -> dict[str, Any]:
    """Serve ``url``, warm, load for ``seconds`` from another process; figures."""
    key, n_cases = _admin_key(url)
    with serving(url) as (port, pid), tempfile.TemporaryDirectory() as folder:
        plan = Plan(port, seconds, concurrency, key, plan_urls(n_cases), MIX)
        warm_s, warm_bad = warm(plan)
        plan_path = Path(folder) / "plan.json"
        plan_path.write_text(plan.to_json())
        rss = [rss_mib(pid)]  # the server's memory before and through the run, once a second
        cpu_before, busy_before = cpu_seconds(pid), busy_cpu_seconds()
        children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        code = f"from benchmarks.load import _client_main; _client_main({str(plan_path)!r})"
        client = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        while client.poll() is None:
            time.sleep(1.0)
            rss.append(rss_mib(pid))
        out, _ = client.communicate()
        rss.append(rss_mib(pid))
        cpu_s = cpu_seconds(pid) - cpu_before
        children = resource.getrusage(resource.RUSAGE_CHILDREN)  # the load process, ended
        client_s = (
            children.ru_utime
            + children.ru_stime
            - children_before.ru_utime
            - children_before.ru_stime
        )
        other_s = busy_cpu_seconds() - busy_before - cpu_s - client_s
        if client.returncode != 0:
            raise RuntimeError("the load process failed")
        result: dict[str, Any] = json.loads(out)
        result.update(
            rss_mib=rss,
            cpu_s=cpu_s,
            client_s=client_s,
            other_s=other_s,
            warm_s=warm_s,
            warm_bad=warm_bad,
            distinct_urls=sum(len(u) for u in plan.urls.values()),
            load_after=os.getloadavg()[0],
        )
    return result


def rows(result: dict[str, Any], seconds: float, concurrency: int, quick: bool) -> list[Row]:
    """The figures as benchmark rows: overall first, then each kind."""
    elapsed, rss = result["elapsed_s"], result["rss_mib"]
    out = []
    for kind, k in result["kinds"].items():
        overall = kind == "overall"
        note = f"{k['requests']:,} requests; statuses {k['statuses']}"
        if overall:
            note = (
                f"{note}; server RSS (VmRSS) {rss[0]:.0f} MiB before, {rss[len(rss) // 2]:.0f} "
                f"MiB half-way, {rss[-1]:.0f} MiB after, {max(rss):.0f} MiB at most; server "
                f"CPU {1000 * result['cpu_s'] / k['requests']:.1f} ms per request; "
                f"{concurrency} keep-alive connections from a separate process for "
                f"{seconds:.0f} s, uvicorn (1 worker) over the sample slice in SQLite, every "
                f"layer built; {result['distinct_urls']} distinct URLs asked once first "
                f"({result['warm_s']:.1f} s, {result['warm_bad']} not OK); rate limits off; "
                f"CPU during the run: server {result['cpu_s']:.0f} s, load process "
                f"{result['client_s']:.0f} s, everything else on the machine "
                f"{max(result['other_s'], 0):.0f} s of {os.cpu_count()} × {elapsed:.0f} s; "
                f"1-min load average after {result['load_after']:.1f}"
            )
        out.append(
            Row(
                work=f"load: {'all requests' if overall else kind}"
                + (f" ({MIX[kind]:.0%} of the mix)" if not overall else ""),
                figure=f"{k['requests'] / elapsed:,.1f} req/s; p50 {k['p50_ms']:.1f} ms, "
                f"p99 {k['p99_ms']:.1f} ms; {k['errors']} errors",
                target="zero errors, bounded memory" if overall else "zero errors",
                met=None if quick else (k["errors"] == 0 and (not overall or _bounded(result))),
                baseline="—",
                baseline_figure="—",
                note=note,
            )
        )
    return out


def _bounded(result: dict[str, Any]) -> bool:
    """Memory levels off: the server's RSS grew by less than 5 % in the second half of the run
    (the first requests of many threads at once take their memory; the caches are bounded)."""
    rss = result["rss_mib"]
    return bool(rss[-1] <= 1.05 * rss[len(rss) // 2])


def run(
    quick: bool = False,
    seconds: float | None = None,
    concurrency: int = CONCURRENCY,
    store: str | None = None,
) -> list[Row]:
    """The load benchmark (``make bench``): 60 s, or 5 s with ``quick``."""
    seconds = seconds or (5.0 if quick else SECONDS)
    if store is not None:
        return rows(measure(store, seconds, concurrency), seconds, concurrency, quick)
    with tempfile.TemporaryDirectory() as folder:
        url = sample_store(Path(folder), build=True)
        return rows(measure(url, seconds, concurrency), seconds, concurrency, quick)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 s, not written to the doc")
    parser.add_argument("--seconds", type=float, default=None)
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY)
    parser.add_argument("--store", help="a built store's URL (default: the sample, made now)")
    parser.add_argument("--no-doc", action="store_true", help="do not update docs/benchmarks.md")
    args = parser.parse_args()
    table = run(args.quick, args.seconds, args.concurrency, args.store)
    print(f"\n## load\n\n{markdown(table)}\n", flush=True)
    if not args.no_doc and not args.quick:
        update_doc("load", table)


if __name__ == "__main__":
    main()
