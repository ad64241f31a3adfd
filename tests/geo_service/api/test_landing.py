"""The landing page for people: a sign-in link or the signed-in account, and every link
that needs an account marked for visitors — exactly those that answer them 401."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html import unescape
from typing import Any
from urllib.parse import parse_qs, urlsplit
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from geo_service.access.policy import add_account
from geo_service.api.app import create_app
from geo_service.api.pages import LOCK_MARK
from geo_service.core.settings import Settings

HTML = {"Accept": "text/html"}


@pytest.fixture(scope="module")
def app(built_sample_store: Engine) -> Iterator[Any]:
    url = built_sample_store.url.render_as_string(hide_password=False)
    yield create_app(
        Settings(database_url=url, rate_limit_per_minute=0, tile_rate_limit_per_minute=0)
    )


def _listed(html: str) -> list[tuple[list[str], bool]]:
    """Every list entry and table row of the page: its links and whether it is marked."""
    blocks = re.findall(r"<li>(.*?)</li>|<tr>(.*?)</tr>", html, re.S)
    entries = []
    for block in ("".join(b) for b in blocks):
        links = [unescape(h) for h in re.findall(r'href="([^"]+)"', block)]
        if links:
            entries.append((links, LOCK_MARK in block))
    return entries


def test_visitors_get_a_sign_in_link_and_marks(app: Any) -> None:
    html = TestClient(app).get("/", headers=HTML).text
    (sign_in,) = re.findall(r'href="(/login\?[^"]*)"', html)
    assert parse_qs(urlsplit(unescape(sign_in)).query)["next"] == ["/"]
    assert "登录 Sign in" in html and "退出" not in html
    marked = {links[0] for links, locked in _listed(html) if locked}
    assert "/maps/planner" in marked and "/collections/cases/items" in marked
    assert "/downloads/cases.geojson" in marked and "/stats/cases" in marked
    assert "/maps/heatmap" not in marked and "/downloads/hexagons.geojson" not in marked


def test_every_marked_link_answers_visitors_401_and_no_other(app: Any) -> None:
    visitor = TestClient(app)
    entries = _listed(visitor.get("/", headers=HTML).text)
    assert len(entries) > 30
    checked = 0
    for links, locked in entries:
        for link in links:
            parts = urlsplit(link)
            if parts.scheme:  # the OGC links, made absolute for QGIS: public documents
                assert not locked
                continue
            status = visitor.get(link, headers={"Accept": "application/json"}).status_code
            assert (status == 401) == locked, f"{link}: {status}, marked {locked}"
            assert status < 400 or status == 401, f"{link}: {status}"
            checked += 1
    assert checked > 30


def test_accounts_see_their_name_role_jurisdiction_and_sign_out(
    app: Any, built_sample_store: Engine
) -> None:
    name = f"南宁市局-{uuid4().hex[:6]}"
    key = add_account(built_sample_store, name, "leader", "450100")
    html = TestClient(app).get("/", headers={**HTML, "Authorization": f"Bearer {key}"}).text
    assert name in html and "领导 leader" in html and "南宁市 450100" in html
    assert '<form method="post" action="/logout">' in html and "退出 Sign out" in html
    assert LOCK_MARK not in html and "/login?" not in html


def test_programs_still_get_the_landing_document(app: Any) -> None:
    body = TestClient(app).get("/", headers={"Accept": "application/json"}).json()
    assert {link["rel"] for link in body["links"]} >= {"service-doc", "data", "conformance"}
