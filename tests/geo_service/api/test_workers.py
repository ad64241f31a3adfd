"""`geo-service serve --workers N`: several processes answer on one port, each its own app
and its own audit writer, and no audited read goes without its entry."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from uuid import uuid4

import psutil
from sqlalchemy import Engine, func, select

from geo_service.access.policy import add_account
from geo_service.store.models import AuditEntry
from tests.conftest import free_port

#: Audited pages asked at once, each on a connection of its own (the kernel hands new
#: connections to whichever worker accepts first).
PAGES = 24


def test_two_workers_serve_the_store(sample_store) -> None:  # type: ignore[no-untyped-def]
    engine: Engine = sample_store.engine
    url = engine.url.render_as_string(hide_password=False)
    account = f"test-workers-{uuid4().hex[:10]}"
    headers = {"Authorization": f"Bearer {add_account(engine, account, 'gis', '450000')}"}
    port = free_port()
    env = {**os.environ, "GEO_DATABASE_URL": url, "GEO_PROGRESS": "false"}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "geo_service",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "2",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):  # bounded wait for the workers to answer
            assert server.poll() is None, "the server exited"
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=2) as answer:
                    assert json.load(answer)["status"] == "ok"
                    break
            except OSError:
                time.sleep(0.1)
        request = urllib.request.Request(f"{base}/collections/cases/items?limit=3", headers=headers)
        with urllib.request.urlopen(request, timeout=30) as answer:
            doc = json.load(answer)
        assert doc["numberReturned"] == 3 and doc["numberMatched"] > 3
        workers = [
            p
            for p in psutil.Process(server.pid).children(recursive=True)
            if "spawn_main" in " ".join(p.cmdline())
        ]
        assert len(workers) == 2, [p.cmdline() for p in workers]

        def page(_: int) -> int:
            with urllib.request.urlopen(request, timeout=60) as answer:
                answer.read()
                return int(answer.status)

        with ThreadPoolExecutor(6) as pool:
            statuses = list(pool.map(page, range(PAGES)))
        assert statuses == [200] * PAGES
        # every audited read's entry was committed before its answer left, by its worker
        with engine.connect() as conn:
            query = select(func.count()).select_from(AuditEntry)
            logged = conn.execute(query.where(AuditEntry.account == account)).scalar_one()
        assert logged == 1 + PAGES
    finally:
        _stop(server)


def _stop(server: subprocess.Popen[bytes]) -> None:
    """Stop the server as a supervisor would (SIGTERM); on a loaded machine its workers
    may still be importing and take a while to wind down, so the wait is generous. Left
    running after it, the server and its workers are killed and the test fails."""
    children = psutil.Process(server.pid).children(recursive=True)
    server.terminate()
    try:
        server.wait(timeout=180)
    except subprocess.TimeoutExpired:
        for process in [*children, psutil.Process(server.pid)]:
            process.kill()
        server.wait(timeout=30)
        raise
