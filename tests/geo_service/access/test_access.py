"""Accounts, keys, the one scoping policy on every kind of route, and the audit log."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from geo_service.access.policy import add_account, disable_account, list_accounts, read_audit
from geo_service.api.app import create_app
from geo_service.cli import app as cli
from geo_service.core.settings import Settings
from tests.conftest import SampleStore

COUNTY, NEIGHBOUR, CITY = "450102", "450103", "450100"  # 兴宁区, 青秀区, 南宁市
Z, X, Y = 7, 102, 55  # a z7 tile over Nanning


@pytest.fixture(scope="module")
def app_and_keys(sample_store: SampleStore) -> tuple[TestClient, dict[str, str]]:
    engine = sample_store.engine
    keys = {
        "admin": add_account(engine, "acc-admin", "admin", "450000"),
        "county": add_account(engine, "acc-county", "inspector", COUNTY),
        "city": add_account(engine, "acc-city", "leader", CITY),
    }
    url = engine.url.render_as_string(hide_password=False)
    return TestClient(create_app(Settings(database_url=url))), keys


def _as(keys: dict[str, str], who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {keys[who]}"} if who in keys else {}


POINT_ROUTES = [
    "/collections/cases/items?limit=5",
    f"/tiles/cases/{Z}/{X}/{Y}.geojson",
    "/downloads/cases.csv",
]


@pytest.mark.parametrize("path", POINT_ROUTES)
def test_point_records_need_an_account(app_and_keys, path: str) -> None:  # type: ignore[no-untyped-def]
    client, _ = app_and_keys
    answer = client.get(path)
    assert answer.status_code == 401, answer.text
    assert set(answer.json()) == {"code", "description"}
    assert answer.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize("path", POINT_ROUTES)
def test_a_county_account_sees_its_county_and_nothing_else(app_and_keys, path: str) -> None:  # type: ignore[no-untyped-def]
    client, keys = app_and_keys
    sep = "&" if "?" in path else "?"
    for outside in (NEIGHBOUR, CITY):
        answer = client.get(f"{path}{sep}jurisdiction={outside}", headers=_as(keys, "county"))
        assert answer.status_code == 403, (path, outside, answer.text)
    own = client.get(path, headers=_as(keys, "county"))
    assert own.status_code in (200, 204)
    if path.startswith("/collections"):
        doc = client.get("/collections/cases/items?limit=10000", headers=_as(keys, "county")).json()
        assert doc["numberMatched"] > 0
        assert {f["properties"]["adcode"] for f in doc["features"]} == {COUNTY}
    # the city's account may look at the county and its neighbour
    city = client.get(f"{path}{sep}jurisdiction={NEIGHBOUR}", headers=_as(keys, "city"))
    assert city.status_code in (200, 204)


def test_the_city_sees_exactly_its_own_cases(app_and_keys, sample_store: SampleStore) -> None:  # type: ignore[no-untyped-def]
    client, keys = app_and_keys
    from geo_service.core.filters import Filters
    from geo_service.store.queries import read_records

    doc = client.get("/collections/cases/items?limit=10000", headers=_as(keys, "city")).json()
    expected = read_records(sample_store.engine, "cases", Filters(jurisdiction=CITY))
    assert doc["numberMatched"] == len(expected) > 0
    assert {f["properties"]["city_adcode"] for f in doc["features"]} == {CITY}


def test_anonymous_gets_the_public_view_of_province_aggregates(app_and_keys) -> None:  # type: ignore[no-untyped-def]
    """The public view (geo_service.disclosure; its attacks are tests/geo_service/
    test_public_view.py): one resolution, perturbed counts, no sums."""
    client, keys = app_and_keys
    assert client.get("/collections/hexagons/items?resolution=7").status_code == 401
    public = client.get("/collections/hexagons/items?limit=10000").json()
    full = client.get(
        "/collections/hexagons/items?limit=10000&resolution=6", headers=_as(keys, "admin")
    ).json()
    shown = [f["properties"] for f in public["features"]]
    assert shown and {p["resolution"] for p in shown} == {6}
    assert not {1, 2} & {p["cases"] for p in shown}
    assert all("penalty_sum" not in p for p in shown)  # no magnitudes in public
    assert [f["properties"]["cases"] for f in full["features"]] != [p["cases"] for p in shown]
    assert client.get(f"/collections/hexagons/items?jurisdiction={CITY}").status_code == 401
    assert client.get("/stats/cases?group_by=county").status_code == 401
    rows = client.get("/stats/cases?group_by=year").json()["rows"]
    assert rows and all(r["cases"] not in (1, 2) and r["penalty_sum"] is None for r in rows)
    cell = public["features"][0]["id"]
    assert client.get(f"/maps/cell/{cell}").json()["top_enterprises"] == []


def test_wrong_and_disabled_keys_are_refused(app_and_keys, sample_store: SampleStore) -> None:  # type: ignore[no-untyped-def]
    client, _ = app_and_keys
    wrong = client.get("/collections/hexagons/items", headers={"X-API-Key": "gs_nothing"})
    assert wrong.status_code == 401
    key = add_account(sample_store.engine, "acc-leaving", "gis", "450000")
    assert (
        client.get("/collections/cases/items?limit=1", headers={"X-API-Key": key}).status_code
        == 200
    )
    disable_account(sample_store.engine, "acc-leaving")
    assert (
        client.get("/collections/cases/items?limit=1", headers={"X-API-Key": key}).status_code
        == 401
    )
    listed = {a["name"]: a for a in list_accounts(sample_store.engine)}
    assert listed["acc-leaving"]["active"] is False
    assert key not in json.dumps(listed) and listed["acc-leaving"]["key_prefix"] == key[:10]


def test_point_reads_are_audited_and_only_admins_read_the_log(
    app_and_keys, sample_store: SampleStore
) -> None:  # type: ignore[no-untyped-def]
    client, keys = app_and_keys
    client.get("/collections/cases/items?limit=7&industry=C", headers=_as(keys, "county"))
    entry = read_audit(sample_store.engine, account="acc-county", limit=1)[0]
    assert entry["action"] == "read" and entry["resource"] == "/collections/cases/items"
    assert entry["parameters"] == {"limit": "7", "industry": "C"} and entry["records"] == 7
    assert client.get("/audit", headers=_as(keys, "county")).status_code == 403
    assert client.get("/audit").status_code == 401
    log = client.get("/audit?account=acc-county", headers=_as(keys, "admin")).json()["entries"]
    assert log[0]["records"] == 7


def test_browser_login_posts_the_key_and_sets_an_http_only_session_cookie(app_and_keys) -> None:  # type: ignore[no-untyped-def]
    client, keys = app_and_keys
    browser = TestClient(client.app)
    answer = browser.post(
        "/login", data={"api_key": keys["county"], "next": "/maps/hexagons"}, follow_redirects=False
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/maps/hexagons"
    cookie = answer.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "max-age=43200" in cookie
    assert keys["county"].lower() not in cookie  # the cookie names a session, not the key
    assert browser.get("/collections/cases/items?limit=1").status_code == 200  # by the cookie
    elsewhere = browser.post(
        "/login",
        data={"api_key": keys["county"], "next": "//evil.example/"},
        follow_redirects=False,
    )
    assert elsewhere.headers["location"] == "/"
    wrong = TestClient(client.app).post("/login", data={"api_key": "gs_wrong"})
    assert wrong.status_code == 401 and "set-cookie" not in wrong.headers


def test_a_key_in_the_login_address_is_refused_and_never_echoed(app_and_keys) -> None:  # type: ignore[no-untyped-def]
    client, keys = app_and_keys
    browser = TestClient(client.app)
    answer = browser.get(
        f"/login?api_key={keys['county']}&next=/maps/hexagons", follow_redirects=False
    )
    assert answer.status_code == 400
    assert answer.headers["content-type"].startswith("text/html")
    assert keys["county"] not in answer.text
    assert 'method="post"' in answer.text and 'value="/maps/hexagons"' in answer.text
    assert "set-cookie" not in answer.headers
    assert browser.get("/collections/cases/items?limit=1").status_code == 401  # not logged in
    form = browser.get("/login?next=/maps/hexagons")
    assert form.status_code == 200 and 'action="/login"' in form.text


def test_users_and_audit_commands(
    sample_store: SampleStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from geo_service.core.settings import get_settings

    monkeypatch.setenv(
        "GEO_DATABASE_URL", sample_store.engine.url.render_as_string(hide_password=False)
    )
    get_settings.cache_clear()
    runner = CliRunner()
    added = runner.invoke(
        cli, ["users", "add", "acc-cli", "--role", "planner", "--jurisdiction", CITY]
    )
    assert added.exit_code == 0, added.output
    key = json.loads(added.output)["api_key"]
    assert key.startswith("gs_")
    listed = runner.invoke(cli, ["users", "list"])
    assert "acc-cli" in listed.output and key not in listed.output
    bad = runner.invoke(cli, ["users", "add", "acc-x", "--role", "king", "--jurisdiction", CITY])
    assert bad.exit_code == 2
    assert runner.invoke(cli, ["users", "disable", "acc-cli"]).exit_code == 0
    audit = runner.invoke(cli, ["audit", "--limit", "5"])
    assert audit.exit_code == 0
    get_settings.cache_clear()


# --- security headers and CORS ---------------------------------------------------------------

CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src 'self'; "
    "object-src 'none'; "
    "base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)


def _assert_secured(answer: Any, framed_by_self: bool = False) -> None:
    headers = answer.headers
    ancestors = "'self'" if framed_by_self else "'none'"
    expected = CSP.removesuffix("'none'") + ancestors
    assert headers["content-security-policy"] == expected, answer.url
    assert headers["x-frame-options"] == ("SAMEORIGIN" if framed_by_self else "DENY")
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"


def test_every_answer_carries_the_security_headers(app_and_keys) -> None:  # type: ignore[no-untyped-def]
    client, keys = app_and_keys
    answers = [
        client.get("/healthz"),  # JSON
        client.get("/", headers={"Accept": "text/html"}),  # the landing page
        client.get("/login"),  # the form
        client.get("/login?api_key=gs_x"),  # a 400 page
        client.get(POINT_ROUTES[0]),  # a 401
        client.get("/no/such/path"),  # a 404
        client.get("/static/maps/geo-maps.js"),  # a static file
        client.get("/docs"),  # Swagger UI
        client.post("/login", data={"api_key": keys["county"]}, follow_redirects=False),  # 303
    ]
    assert [a.status_code for a in answers] == [200, 200, 200, 400, 401, 404, 200, 200, 303]
    for answer in answers:
        _assert_secured(answer)
    # the limits answer before any route: their 429 too
    url = client.app.state.settings.database_url
    limited = TestClient(
        create_app(Settings(database_url=url, rate_limit_per_minute=1, rate_limit_burst=1))
    )
    limited.get("/")
    refused = limited.get("/")
    assert refused.status_code == 429
    _assert_secured(refused)


def test_the_map_pages_load_nothing_the_policy_forbids(app_and_keys) -> None:  # type: ignore[no-untyped-def]
    """The maps are framed by the landing page (same origin) and by nothing else; every
    script and style they name comes from the service, and their inline scripts and
    styles (Folium's) are what 'unsafe-inline' is there for."""
    import re

    client, keys = app_and_keys
    page = client.get("/maps/hexagons", headers=_as(keys, "admin"))
    assert page.status_code == 200
    _assert_secured(page, framed_by_self=True)
    html = page.text
    sources = re.findall(r'<(?:script|link|img|iframe)[^>]*?(?:src|href)="([^"]+)"', html)
    assert sources and all(s.startswith("/") and not s.startswith("//") for s in sources)
    assert re.search(r"<script>\s*\S", html)  # inline scripts: 'unsafe-inline' is needed
    landing = client.get("/", headers={"Accept": "text/html"}).text
    assert '<iframe src="/maps/heatmap"' in landing  # why the maps may be framed by 'self'


def test_a_basemap_host_is_allowed_for_images_only(sample_store: SampleStore) -> None:
    url = sample_store.engine.url.render_as_string(hide_password=False)
    settings = Settings(database_url=url, basemap_url="https://t{s}.tiles.example/{z}/{x}/{y}.png")
    policy = TestClient(create_app(settings)).get("/healthz").headers["content-security-policy"]
    directives = dict(d.split(" ", 1) for d in policy.split("; "))
    assert directives["img-src"] == "'self' data: https://*.tiles.example"
    assert all("tiles.example" not in v for k, v in directives.items() if k != "img-src")


def test_cors_is_off_unless_origins_are_named(sample_store: SampleStore) -> None:
    url = sample_store.engine.url.render_as_string(hide_password=False)
    preflight = {
        "Origin": "https://gis.example.gov.cn",
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "Authorization",
    }
    closed = TestClient(create_app(Settings(database_url=url)))
    assert (
        "access-control-allow-origin"
        not in closed.options("/collections", headers=preflight).headers
    )
    plain = closed.get("/collections", headers={"Origin": "https://gis.example.gov.cn"})
    assert plain.status_code == 200 and "access-control-allow-origin" not in plain.headers

    settings = Settings(
        database_url=url, cors_origins="https://gis.example.gov.cn/, http://localhost:8080"
    )
    opened = TestClient(create_app(settings))
    allowed = opened.options("/collections", headers=preflight)
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://gis.example.gov.cn"
    assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
    assert "access-control-allow-credentials" not in allowed.headers  # keys, not cookies
    _assert_secured(allowed)
    other = opened.options("/collections", headers={**preflight, "Origin": "https://evil.example"})
    assert other.status_code == 400 and "access-control-allow-origin" not in other.headers
    simple = opened.get("/collections", headers={"Origin": "https://gis.example.gov.cn"})
    assert simple.headers["access-control-allow-origin"] == "https://gis.example.gov.cn"
    assert (
        "access-control-allow-origin"
        not in opened.get("/collections", headers={"Origin": "https://evil.example"}).headers
    )


@pytest.mark.parametrize("origins", ["*", "gis.example.gov.cn", "https://a.example/path"])
def test_cors_origins_are_origins(origins: str) -> None:
    with pytest.raises(ValueError, match="CORS origin"):
        Settings(cors_origins=origins)
