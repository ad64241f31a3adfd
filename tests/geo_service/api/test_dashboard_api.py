"""The leadership dashboard's page over HTTP: offline HTML, allowed by the CSP, no figures.

What it draws, and how it drills, is tested in a browser (test_dashboard_browser.py).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from geo_service.api.app import create_app
from geo_service.core.paths import STATIC_DIR
from geo_service.core.settings import Settings
from geo_service.store.boundaries import read_divisions
from geo_service.store.queries import read_frame
from layers.offline import external_references, local_references
from tests.conftest import account_headers

#: The page's own files, as the page names them.
OWN_ASSETS = {
    "/static/dashboard/dashboard.css",
    "/static/dashboard/dashboard.js",
    "/static/vendor/echarts/echarts.min.js",
}
FONT = "/static/vendor/fonts/NotoSansSC-Regular.subset.ttf"


@pytest.fixture(scope="module")
def client(built_sample_store: Engine) -> Iterator[TestClient]:
    url = built_sample_store.url.render_as_string(hide_password=False)
    settings = Settings(database_url=url, rate_limit_per_minute=0, tile_rate_limit_per_minute=0)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def _config(html: str) -> dict[str, Any]:
    found = re.search(r'<script type="application/json" id="dashboard-config">(.*?)</script>', html)
    assert found, "no configuration in the page"
    config: dict[str, Any] = json.loads(found.group(1))
    return config


def _policy(header: str) -> dict[str, list[str]]:
    return {d.split()[0]: d.split()[1:] for d in header.split("; ")}


def test_dashboard_is_offline_html_the_csp_allows(client: TestClient) -> None:
    answer = client.get("/dashboard", headers={"Accept": "text/html"})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    html = answer.text
    assert "领导驾驶舱" in html
    assert external_references(html) == []
    # what the page loads (its links to other pages aside): the service's own files only
    assets = set(re.findall(r'<(?:script|link)[^>]*?(?:src|href)="([^"]+)"', html))
    assert assets >= OWN_ASSETS and all(a.startswith("/static/") for a in assets)
    # every script is one of the service's files (no inline code: only inert JSON)
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
    for attributes, body in scripts:
        assert 'src="/static/' in attributes or 'type="application/json"' in attributes
        assert "src=" in attributes or body.startswith("{")
    # and the service's policy allows exactly those: its own scripts, styles, fonts, fetches
    policy = _policy(answer.headers["content-security-policy"])
    for directive in ("script-src", "style-src", "font-src", "connect-src"):
        assert "'self'" in policy[directive], directive
        assert not [s for s in policy[directive] if s.startswith(("http", "*"))], directive
    assert "'unsafe-eval'" not in policy["script-src"]
    for asset in assets:
        served = client.get(asset)
        assert served.status_code == 200, asset
    # the style and the script reach nothing outside either; the font is the bundled one
    for own in ("dashboard.css", "dashboard.js"):
        text = (STATIC_DIR / "dashboard" / own).read_text("utf-8")
        assert external_references(text) == [], own
    css = (STATIC_DIR / "dashboard" / "dashboard.css").read_text("utf-8")
    assert "@font-face" in css and FONT in local_references(css)
    assert client.get(FONT).status_code == 200


def test_the_page_holds_places_not_figures(client: TestClient, built_sample_store: Engine) -> None:
    html = client.get("/dashboard").text
    config = _config(html)
    assert set(config) == {"start", "home", "signed_in", "account", "role", "divisions"}
    divisions = read_divisions(built_sample_store).table
    assert [d["adcode"] for d in config["divisions"]] == sorted(divisions["adcode"])
    assert all(set(d) == {"adcode", "name", "level", "parent"} for d in config["divisions"])
    case_ids = read_frame(built_sample_store, "cases", None, ["case_id"])["case_id"].head(50)
    assert not any(case_id in html for case_id in case_ids)
    assert '"coordinates"' not in html and '"rows"' not in html


def test_where_the_page_starts(client: TestClient, built_sample_store: Engine) -> None:
    anonymous = _config(client.get("/dashboard").text)
    assert anonymous["start"] == anonymous["home"] == "450000"
    assert anonymous["signed_in"] is False and anonymous["account"] is None
    city = account_headers(built_sample_store, "leader", "450100")
    own = _config(client.get("/dashboard", headers=city).text)
    assert own["start"] == own["home"] == "450100"
    assert own["signed_in"] is True and own["role"] == "leader"
    # a division asked for is where the page starts; the ledgers say whether it is shown
    asked = _config(client.get("/dashboard?jurisdiction=450102&period=2024", headers=city).text)
    assert (asked["start"], asked["home"]) == ("450102", "450100")
    outside = client.get("/dashboard?jurisdiction=450200", headers=city)
    assert outside.status_code == 200 and _config(outside.text)["start"] == "450200"
    # anonymous below province: the page (with its sign-in prompt), never a bare 401
    below = client.get("/dashboard?jurisdiction=450100", headers={"Accept": "text/html"})
    assert below.status_code == 200 and _config(below.text)["start"] == "450100"


@pytest.mark.parametrize(
    "query", ["jurisdiction=999999", "jurisdiction=45", "period=2024-13", "period=abcd"]
)
def test_a_bad_start_is_a_400(client: TestClient, query: str) -> None:
    answer = client.get(f"/dashboard?{query}")
    assert answer.status_code == 400
    assert set(answer.json()) == {"code", "description"}


def test_the_landing_page_links_the_dashboard(client: TestClient) -> None:
    page = client.get("/", headers={"Accept": "text/html"}).text
    assert '<a href="/dashboard">领导驾驶舱' in page
