"""Where the items benchmark's server spends its CPU: py-spy attached to one uvicorn worker
serving ``bench_items.PAGE`` to 32 keep-alive clients, as :mod:`benchmarks.bench_items`
runs it (``python -m benchmarks.profile_items [--postgres] [--unaudited] [--seconds S]``).

py-spy samples only while a thread holds the GIL (``--gil``): the Python work one worker
does on its core, which the load of other processes distorts least. Printed: requests
per second, the server's CPU milliseconds per request (/proc) and the functions with the
largest share of samples, by their own time and with what they call.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.bench_items import PAGE, _account, _client, _postgis, _server
from benchmarks.serving import sample_store

_LINE = re.compile(r":\d+\)$")


def profile(url: str, seconds: float, unaudited: bool, raw: Path) -> dict[str, float]:
    """The server over ``url`` under the bench's load for ``seconds``, sampled into ``raw``
    (py-spy's raw format): requests per second and server CPU ms per request."""
    beside = Path(sys.executable).with_name("py-spy")  # the virtualenv's, off PATH
    spy = str(beside) if beside.exists() else shutil.which("py-spy")
    if spy is None:
        raise SystemExit("py-spy is not installed (pip install -e '.[dev]')")
    _, key = _account(url)
    with _server(url, unaudited) as (port, pid):
        for _ in range(3):  # the division caches and the first page
            _client(port, pid, PAGE, key, 0.3)
        command = [spy, "record", "-p", str(pid), "-r", "200", "-f", "raw", "-o", str(raw)]
        command += ["-d", str(int(seconds) + 1), "--nonblocking", "--gil"]
        sampler = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        result = _client(port, pid, PAGE, key, seconds)
        sampler.wait()
    n = len(result["ms"])
    return {"rps": n / result["elapsed_s"], "cpu_ms": 1000 * result["cpu_s"] / n}


def shares(raw: Path, top: int) -> tuple[list[tuple[float, str]], list[tuple[float, str]]]:
    """Each function's share of the samples: by its own time, and with its callees."""
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        n = int(count)
        total += n
        frames = [_LINE.sub(")", f) for f in stack.split(";")]
        own[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
    total = max(total, 1)
    return (
        [(100 * v / total, k) for k, v in own.most_common(top)],
        [(100 * v / total, k) for k, v in inclusive.most_common(top)],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--postgres", action="store_true", help="PostGIS, not SQLite")
    parser.add_argument("--unaudited", action="store_true", help="the audit writer stores nothing")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--raw", type=Path, help="keep py-spy's raw samples (stacks) here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        raw = args.raw or Path(folder) / "profile.txt"
        if args.postgres:
            with _postgis(Path(folder)) as url:
                if url is None:
                    raise SystemExit("no PostgreSQL server at GEO_BENCH_POSTGRES_URL")
                figures = profile(url, args.seconds, args.unaudited, raw)
        else:
            figures = profile(sample_store(Path(folder)), args.seconds, args.unaudited, raw)
        own, inclusive = shares(raw, args.top)
    load = os.getloadavg()[0]
    print(
        f"{figures['rps']:.0f} req/s, server CPU {figures['cpu_ms']:.2f} ms per request, "
        f"1-min load average {load:.1f} on {os.cpu_count()} cores"
    )
    for title, rows in (("own time", own), ("with callees", inclusive)):
        print(f"\n-- share of GIL samples, {title}")
        for share, name in rows:
            print(f"{share:5.1f}%  {name}")


if __name__ == "__main__":
    main()
