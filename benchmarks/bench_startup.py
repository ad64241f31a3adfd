"""A newcomer's first run: `geo-service --help`, the demo's first start (ingest the
sample, build every layer, serve) to the first page, a later start, and pip's install of
the project into a new virtual environment — each beside a floor measured in the same run."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from benchmarks.report import Row, best_of, stopwatch

ROOT = Path(__file__).resolve().parent.parent
HELP_TARGET_S = 1.0
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _until_first_page(command: list[str], env: dict[str, str], cwd: Path, port: int) -> float:
    """Seconds from starting ``command`` until ``/`` answers 200; the process is stopped."""
    with stopwatch() as elapsed:
        proc = subprocess.Popen(
            command, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"{command[:3]} ended before serving")
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
                        if r.status == 200:
                            break
                except OSError:
                    time.sleep(0.1)
            seconds = elapsed()
        finally:
            proc.terminate()
            proc.wait(timeout=60)
    return seconds


def _help_rows() -> list[Row]:
    ours = best_of(
        5,
        lambda: subprocess.run(
            [str(BIN / "geo-service"), "--help"], check=True, capture_output=True
        ),
    )
    floor = best_of(
        5,
        lambda: subprocess.run(
            [sys.executable, "-c", "import pandas, geopandas, sqlalchemy, fastapi"],
            check=True,
            capture_output=True,
        ),
    )
    return [
        Row(
            work="`geo-service --help` start-up",
            figure=f"{ours:.2f} s",
            target=f"< {HELP_TARGET_S:g} s",
            met=ours < HELP_TARGET_S,
            baseline="python importing pandas, geopandas, SQLAlchemy, FastAPI (as --help did)",
            baseline_figure=f"{floor:.2f} s",
            note="best of 5",
        )
    ]


def _demo_rows(work: Path) -> list[Row]:
    env = {**os.environ, "GEO_DATA_DIR": str(work / "data"), "GEO_PROGRESS": "false"}
    demo = [str(BIN / "geo-service"), "demo", "--host", "127.0.0.1"]
    port = _free_port()
    first = _until_first_page([*demo, "--port", str(port)], env, work, port)
    port = _free_port()
    again = _until_first_page([*demo, "--port", str(port)], env, work, port)
    port = _free_port()
    app = work / "hello.py"
    app.write_text(
        "from fastapi import FastAPI\napp = FastAPI()\n\n\n@app.get('/')\n"
        "def root() -> str:\n    return 'ok'\n"
    )
    floor = _until_first_page(
        [sys.executable, "-m", "uvicorn", "hello:app", "--port", str(port)], env, work, port
    )
    baseline = "uvicorn serving a one-route FastAPI app"
    return [
        Row(
            work="`make run` (demo) first start to the first page: sample ingested, layers built",
            figure=f"{first:.0f} s",
            target="—",
            met=None,
            baseline=baseline,
            baseline_figure=f"{floor:.1f} s",
            note="the venv already installed (pip: the row below)",
        ),
        Row(
            work="`make run` (demo) later start to the first page",
            figure=f"{again:.1f} s",
            target="—",
            met=None,
            baseline=baseline,
            baseline_figure=f"{floor:.1f} s",
            note="nothing loaded or built again",
        ),
    ]


def _pip_row(work: Path) -> Row:
    clone = work / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    venv = clone / ".venv"
    with stopwatch() as ours:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [
                str(venv / "bin/python"),
                "-m",
                "pip",
                "install",
                "-q",
                "-c",
                "requirements.lock",
                "-e",
                ".[dev]",
            ],
            cwd=clone,
            check=True,
        )
    with stopwatch() as floor:
        subprocess.run([sys.executable, "-m", "venv", str(work / "bare")], check=True)
        subprocess.run(
            [str(work / "bare/bin/python"), "-m", "pip", "install", "-q", "pandas"], check=True
        )
    return Row(
        work="`make install` on a clean clone: a new venv, every pinned package",
        figure=f"{ours():.0f} s",
        target="—",
        met=None,
        baseline="a new venv with pandas alone",
        baseline_figure=f"{floor():.0f} s",
        note="pip's download cache warm from earlier installs on this machine",
    )


def run(quick: bool = False) -> list[Row]:
    rows = _help_rows()
    work = Path(tempfile.mkdtemp(prefix="bench-startup-"))
    try:
        if not quick:
            rows += _demo_rows(work)
            rows.append(_pip_row(work))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return rows
