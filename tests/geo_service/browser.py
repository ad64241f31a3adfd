"""Headless Chromium for the browser tests: Debian's (never a downloaded one), launched
the same way by every module; under ``CI=true`` a missing Chromium fails, elsewhere it
skips with the reason."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import IN_CI

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LOCAL_HOSTS = ("127.0.0.1", "localhost")


def require_chromium() -> None:
    """Fail (under CI) or skip when Debian's Chromium is not installed."""
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is not installed (apt-get install chromium)"
        if IN_CI:
            pytest.fail(f"Chromium required under CI=true: {reason}")
        pytest.skip(reason)


def launch(playwright: Any, env: dict[str, str] | None = None) -> Any:
    """Chromium started by a running ``sync_playwright`` (``env``: its environment)."""
    require_chromium()
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, env=env)


def chromium() -> Iterator[Any]:
    """One Chromium for a module's fixture: ``yield from chromium()``."""
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch(playwright)
        yield browser
        browser.close()
