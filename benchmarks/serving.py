"""What the HTTP benchmarks share: a sample store, a server process, and /proc readings."""

from __future__ import annotations

import datetime as dt
import http.client
import math
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

#: The sample slice's kinds, in the order an ingest needs them (register first).
KINDS = ("enterprises", "cases", "inspections", "exceedances", "complaints", "inspectors")


def sample_store(folder: Path, *, build: bool = False, kinds: tuple[str, ...] = KINDS) -> str:
    """The committed sample slice ingested into a new SQLite store (every layer built
    with ``build``, as ``geo-service demo`` does); its URL."""
    url = f"sqlite:///{folder / 'geo.db'}"
    fill_store(url, folder, build=build, kinds=kinds)
    return url


def fill_store(
    url: str, folder: Path, *, build: bool = False, kinds: tuple[str, ...] = KINDS
) -> None:
    """The sample slice ingested into the (empty) store at ``url``, SQLite or PostGIS
    (every layer built with ``build``); rejects files go to ``folder``."""
    from geo_service.builds.run import build_layers
    from geo_service.core.filters import Filters
    from geo_service.core.paths import BUNDLED_DIVISIONS, SAMPLE_SLICE
    from geo_service.ingest import IngestOptions, ingest_file
    from geo_service.store import make_engine, migrate
    from geo_service.store.boundaries import load_divisions, read_divisions_file

    engine = make_engine(url)
    migrate(engine)
    load_divisions(engine, read_divisions_file(BUNDLED_DIVISIONS))
    for kind in kinds:
        options = IngestOptions(
            kind=kind,
            rejects_path=folder / f"{kind}.rejects.csv",
            progress=False,
            today=dt.date(2026, 11, 28),
        )
        ingest_file(engine, SAMPLE_SLICE / f"{kind}.csv", options)
    if build:
        build_layers(engine, Filters())
    engine.dispose()


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int, int]:
    """The web-mercator tile ``(z, x, y)`` holding a WGS84 point."""
    n = 2**z
    y = (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n
    return z, int((lon + 180) / 360 * n), int(y)


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def server_process(command: list[str], env: dict[str, str], port: int) -> Iterator[int]:
    """Run ``command`` (a server on ``port``) until ``/healthz`` answers 200; its pid."""
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    try:
        for _ in range(1200):  # bounded: a server may build a layer before it answers
            if server.poll() is not None:
                raise RuntimeError("the benchmark server stopped while starting")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.1)
        else:
            raise RuntimeError("the benchmark server did not start")
        yield server.pid
    finally:
        server.terminate()
        server.wait(timeout=30)


def rss_mib(pid: int) -> float:
    """Resident memory of a process (VmRSS, MiB; NaN where /proc is missing)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def process_tree(pid: int) -> list[Any] | None:
    """A process and the processes it started that are alive (psutil handles, the root
    first); None when the process has ended."""
    import psutil

    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return None


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and of the processes it started that are alive
    (a server's worker processes); NaN where it cannot be read."""
    import psutil

    processes = process_tree(pid)
    if processes is None:
        return float("nan")
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.Error:  # ended meanwhile
            continue
        total += times.user + times.system
    return total


def busy_cpu_seconds() -> float:
    """CPU seconds all processors have spent busy since boot (Linux /proc/stat; NaN elsewhere)."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except OSError:
        return float("nan")
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")
