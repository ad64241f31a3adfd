"""`make run` in miniature: `geo-service demo` on a fresh data folder ends with the service
answering, in a store of its own, and says where to go and how to sign in; a second start
loads and builds nothing again."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(url: str) -> tuple[int, dict[str, object]]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status, json.loads(response.read())


def _run_demo(tmp_path: Path) -> str:
    """Start the demo, wait until it answers, sign in with the key it printed, stop it;
    what it printed."""
    port = _free_port()
    env = {
        **os.environ,
        "GEO_DATABASE_URL": f"sqlite:///{tmp_path / 'real.db'}",  # the real store
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
        status, body = 0, dict[str, object]()
        for _ in range(2400):  # bounded wait: the first start ingests and builds the sample
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
    finally:
        proc.terminate()
        printed = proc.communicate(timeout=30)[0]
    return printed


def _signs_in(printed: str, tmp_path: Path) -> None:
    """The printed key opens a session on the printed sign-in page."""
    assert re.search(r"登录 Sign in:\s+http://\S+/login", printed), printed[-2000:]
    port = _free_port()
    env = {**os.environ, "GEO_DATABASE_URL": f"sqlite:///{tmp_path / 'data' / 'demo.db'}"}
    server = subprocess.Popen(
        [sys.executable, "-m", "geo_service", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(400):
            try:
                _get(f"http://127.0.0.1:{port}/healthz")
                break
            except OSError:
                time.sleep(0.25)
        form = urllib.parse.urlencode({"api_key": _key(printed), "next": "/"}).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{port}/login", data=form)

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args: Any, **kwargs: Any) -> None:
                return None

        opener = urllib.request.build_opener(NoRedirect)
        with pytest.raises(urllib.error.HTTPError) as answer:
            opener.open(request, timeout=10)
        assert answer.value.code == 303  # signed in: on to the page asked for
        assert "geo_session" in (answer.value.headers.get("set-cookie") or "")
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.slow
def test_demo_initialises_ingests_builds_and_serves_in_its_own_store(tmp_path: Path) -> None:
    printed = _run_demo(tmp_path)
    assert "http://127.0.0.1:" in printed and "/login" in printed
    for kind in ("enterprises", "cases", "inspections"):
        assert f"载入示例 loading the sample: {kind}" in printed
    assert re.search(r"\[10/10\] priority-areas: 已生成 built", printed)  # a line per layer
    assert (tmp_path / "data" / "rejects" / "cases.rejects.csv").exists()
    assert not (tmp_path / "real.db").exists()  # the real store is left alone
    key_file = tmp_path / "data" / "demo-account.txt"
    assert key_file.stat().st_mode & 0o077 == 0  # the key is the owner's only

    from geo_service.builds.problem_types import LABELS_STEP
    from geo_service.builds.registry import RECIPES

    engine = create_engine(f"sqlite:///{tmp_path / 'data' / 'demo.db'}")
    with engine.connect() as conn:
        built = conn.execute(text("SELECT layer, count(*) FROM layer_builds GROUP BY layer"))
        expected = {name: len(spec.variants) for name, spec in RECIPES.items()}
        # every layer, every variant, and the labelling step the clusters and risk need
        assert dict(built.all()) == {**expected, LABELS_STEP: 1}
        builds_before = conn.execute(text("SELECT max(id) FROM layer_builds")).scalar_one()
    _signs_in(printed, tmp_path)

    again = _run_demo(tmp_path)  # the second start loads nothing and builds nothing
    assert "载入示例" not in again and "已生成 built" not in again
    assert "the sample and its layers are ready" in again
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM ingest_batches")).scalar_one() == 6
        assert conn.execute(text("SELECT max(id) FROM layer_builds")).scalar_one() == builds_before
        assert conn.execute(text("SELECT count(*) FROM accounts")).scalar_one() == 1
    engine.dispose()
    assert _key(again) == _key(printed)


def _key(printed: str) -> str:
    found = re.search(r"API 密钥 Key:\s+(\S+)", printed)
    assert found, printed[-2000:]
    return found[1]
