"""For the fault tests: generated case files, ``geo-service ingest`` in a process of its
own (with its progress bar read from a pseudo terminal), and a snapshot of a store."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, inspect, text

from geo_service.store.models import RECORD_TABLES

#: Centre of the generated cases (Nanning) and their spread in degrees: all inside Guangxi.
CENTRE = (108.37, 22.82)
SPREAD_DEG = 0.25
CHUNK_ROWS = 5_000  # rows an ingest writes between two updates of its progress bar
PROGRESS = re.compile(rb"(\d+)/(\d+) \[")  # tqdm's "rows/total [elapsed<left, rate]"


def write_cases_csv(path: Path, n_rows: int, *, seed: int, prefix: str, bad_every: int = 0) -> int:
    """Write ``n_rows`` penalty cases with coordinates around Nanning to ``path`` (UTF-8).

    Ids are ``{prefix}-{i}``; every ``bad_every``-th row (if given) has an impossible
    date and is rejected by the ingest. Returns the number of rows that will be accepted.
    """
    rng = np.random.default_rng(seed)
    days = rng.integers(0, 4 * 365, n_rows)
    dates = (np.datetime64("2021-01-01") + days.astype("timedelta64[D]")).astype(str)
    if bad_every:
        dates[::bad_every] = "2024-13-45"
    frame = pd.DataFrame(
        {
            "case_id": [f"{prefix}-{i}" for i in range(n_rows)],
            "decision_date": dates,
            "lon": np.round(CENTRE[0] + rng.uniform(-SPREAD_DEG, SPREAD_DEG, n_rows), 6),
            "lat": np.round(CENTRE[1] + rng.uniform(-SPREAD_DEG, SPREAD_DEG, n_rows), 6),
            "crs": "WGS84",
            "industry_code": rng.choice(["C2611", "C3011", "E4710", "C1931"], n_rows),
            "violation_type": rng.choice(
                ["超标排放", "未批先建", "扬尘污染防治措施不到位"], n_rows
            ),
            "penalty_amount": rng.integers(1, 100, n_rows) * 1000,
            "description": "现场检查发现超标排放，违反了《中华人民共和国大气污染防治法》的规定。",
        }
    )
    frame.to_csv(path, index=False, encoding="utf-8")
    return n_rows - (len(range(0, n_rows, bad_every)) if bad_every else 0)


@dataclass(frozen=True)
class Snapshot:
    """Row counts and a digest of the content of the ingest's tables, and the indexes."""

    counts: dict[str, int]
    digests: dict[str, str]
    indexes: frozenset[str]


def _key_columns() -> dict[str, str]:
    """Per table: the columns the digest covers (ids, natural keys, batches)."""
    keys = {
        "enterprises": "credit_code",
        "cases": "case_id",
        "inspections": "inspection_id",
        "projects": "project_id",
    }
    columns = {name: f"id, {keys[name]}, batch_id" for name in RECORD_TABLES}
    columns["ingest_batches"] = "id, kind, rows, accepted, rejected, inserted, updated"
    columns["rejected_rows"] = "id, batch_id, row_number, reason"
    return columns


def snapshot(engine: Engine) -> Snapshot:
    """What the store holds: counts and a SHA-256 of the key columns of every row (in id
    order) of the record tables, ``ingest_batches`` and ``rejected_rows``; its indexes."""
    counts, digests = {}, {}
    with engine.connect() as conn:
        for table, columns in _key_columns().items():
            rows = conn.execute(text(f"SELECT {columns} FROM {table} ORDER BY id")).all()
            counts[table] = len(rows)
            digests[table] = hashlib.sha256(repr([tuple(r) for r in rows]).encode()).hexdigest()
    names = inspect(engine)
    indexes = frozenset(
        f"{table}.{ix['name']}" for table in _key_columns() for ix in names.get_indexes(table)
    )
    return Snapshot(counts, digests, indexes)


@dataclass
class Ingest:
    """``geo-service ingest`` running in a process of its own."""

    process: subprocess.Popen[bytes]
    terminal: int  # the pseudo terminal its progress bar is drawn on

    def wait_until_writing(self) -> tuple[int, int]:
        """Read the progress bar until it shows some but not all rows written: (rows, total)."""
        seen = b""
        while self.process.poll() is None:
            ready, _, _ = select.select([self.terminal], [], [], 1.0)
            if not ready:
                continue
            try:
                seen += os.read(self.terminal, 65536)
            except OSError:  # the terminal closes when the process ends
                break
            for done, total in PROGRESS.findall(seen)[::-1]:
                if 0 < int(done) < int(total):
                    return int(done), int(total)
        pytest.fail(f"the ingest ended before it was seen writing: {seen[-500:]!r}")

    def wait_until(self, condition: Callable[[], bool]) -> None:
        """Poll ``condition`` while the process runs, reading what its bar draws."""
        while self.process.poll() is None:
            self.drain()
            if condition():
                return
            time.sleep(0.02)
        pytest.fail("the ingest ended before the condition held")

    def drain(self) -> None:
        """Read what the progress bar drew since last time (the terminal never fills up)."""
        while select.select([self.terminal], [], [], 0)[0]:
            try:
                if not os.read(self.terminal, 65536):
                    return
            except OSError:
                return

    def end(self) -> int:
        """Kill the process (SIGKILL) unless it has ended; its exit status."""
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
        status = self.process.wait()
        os.close(self.terminal)
        return status


def _ingest_command(path: Path, rejects: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "geo_service",
        "ingest",
        str(path),
        "--kind",
        "cases",
        "--rejects",
        str(rejects),
    ]


def start_ingest(
    url: str, path: Path, rejects: Path, settings: dict[str, str] | None = None
) -> Ingest:
    """Start ``geo-service ingest PATH --kind cases`` on the store at ``url``, its progress bar
    drawn on a pseudo terminal of 120 columns (``settings``: more GEO_* variables)."""
    terminal, tty = pty.openpty()
    fcntl.ioctl(tty, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
    env = {
        **os.environ,
        "GEO_DATABASE_URL": url,
        "GEO_PROGRESS": "true",
        "GEO_INGEST_CHUNK_ROWS": str(CHUNK_ROWS),
        **(settings or {}),
    }
    process = subprocess.Popen(
        _ingest_command(path, rejects),
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=tty,
    )
    os.close(tty)
    return Ingest(process, terminal)


def run_ingest(url: str, path: Path, rejects: Path) -> dict[str, object]:
    """Run ``geo-service ingest`` to its end; its JSON summary."""
    env = {**os.environ, "GEO_DATABASE_URL": url, "GEO_PROGRESS": "false"}
    done = subprocess.run(_ingest_command(path, rejects), env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    summary: dict[str, object] = json.loads(done.stdout)
    return summary
