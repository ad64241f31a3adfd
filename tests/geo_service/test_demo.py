"""`make run` in miniature: `geo-service demo` on a fresh store ends with the service answering."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(url: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status, json.loads(response.read())


@pytest.mark.slow
def test_demo_initialises_ingests_and_serves(tmp_path: Path) -> None:
    port = _free_port()
    env = {
        **os.environ,
        "GEO_DATABASE_URL": f"sqlite:///{tmp_path / 'geo.db'}",
        "GEO_DATA_DIR": str(tmp_path / "data"),
        "GEO_PROGRESS": "false",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "geo_service", "demo", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        status, body = 0, {}
        for _ in range(600):  # bounded wait: the demo ingests the sample slice first
            if proc.poll() is not None:
                pytest.fail(f"demo exited early:\n{proc.stdout.read() if proc.stdout else ''}")
            try:
                status, body = _get(f"http://127.0.0.1:{port}/healthz")
                break
            except OSError:
                time.sleep(0.25)
        assert status == 200
        # six ingest batches: register, cases, inspections, exceedances, complaints, roster
        assert body == {"status": "ok", "data_version": 6}
        assert (tmp_path / "data" / "rejects" / "cases.rejects.csv").exists()
        from sqlalchemy import create_engine, text

        from geo_service.builds.problem_types import LABELS_STEP
        from geo_service.builds.registry import RECIPES

        engine = create_engine(env["GEO_DATABASE_URL"])
        with engine.connect() as conn:
            built = conn.execute(text("SELECT layer, count(*) FROM layer_builds GROUP BY layer"))
            expected = {name: len(spec.variants) for name, spec in RECIPES.items()}
            # every layer, every variant, and the labelling step the clusters and risk need
            assert dict(built.all()) == {**expected, LABELS_STEP: 1}
        engine.dispose()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
