"""401 and 403 as pages for browsers, JSON for programs; ended sessions; a safe ``next``.

A browser navigating to a city's map without an account gets a Chinese page (English
beside it) linking to the sign-in that leads back; a county account asking for another
county gets a page naming its account and jurisdiction. Programs (``*/*``, JSON, images,
GDAL's geo+json) keep the JSON ``{code, description}`` and the same status.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from html import unescape
from typing import Any
from urllib.parse import parse_qs, urlsplit
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, update
from starlette.requests import Request

from geo_service.access.policy import add_account, forget_cached_credentials
from geo_service.api.app import create_app
from geo_service.api.error_pages import SESSION_ENDED, prefers_html
from geo_service.api.pages import safe_next
from geo_service.core.settings import Settings
from geo_service.store.models import LoginSession

CITY_MAP = "/maps/hexagons?jurisdiction=450100"
POINTS = "/collections/cases/items?limit=1"  # an account's, whatever the level
#: What Chromium sends when it navigates to a page.
BROWSER = (
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,"
    "image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7"
)
FIREFOX = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
PAGE_ACCEPTS = [BROWSER, FIREFOX, "text/html", "text/*", "text/html, application/json;q=0.5"]
JSON_ACCEPTS = [
    "*/*",  # curl, urllib, TestClient
    "",  # no preference given
    "application/json",  # the maps' fetch calls
    "application/geo+json, application/json",  # GDAL's and QGIS's OAPIF requests
    "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8",  # a tile as <img>
    "text/html, application/json",  # a tie: JSON
    "application/json, text/html;q=0.9",
    "text/html;q=0.5, application/json",
    "text/html;q=x",  # an unreadable quality refuses the range
]


@pytest.fixture
def app(store: Engine) -> Any:
    url = store.url.render_as_string(hide_password=False)
    return create_app(Settings(database_url=url, rate_limit_per_minute=0))


def _key(store: Engine, role: str, jurisdiction: str) -> str:
    """The key of a new account (a fresh name each time: the store keeps accounts)."""
    return add_account(store, f"{role}-{uuid4().hex[:10]}", role, jurisdiction)


def _sign_in_target(html: str) -> str:
    """Where the page's sign-in link leads back to (its ``next``)."""
    hrefs = [unescape(h) for h in re.findall(r'href="(/login\?[^"]*)"', html)]
    assert len(hrefs) == 1, hrefs
    return parse_qs(urlsplit(hrefs[0]).query)["next"][0]


@pytest.mark.parametrize("accept", PAGE_ACCEPTS)
def test_a_browser_without_an_account_gets_a_sign_in_page(app: Any, accept: str) -> None:
    answer = TestClient(app).get(CITY_MAP, headers={"Accept": accept})
    assert answer.status_code == 401
    assert answer.headers["content-type"].startswith("text/html")
    assert "Accept" in answer.headers["vary"] and answer.headers["www-authenticate"]
    assert "需要登录" in answer.text and "Sign-in needed" in answer.text
    assert '<html lang="zh-CN">' in answer.text
    assert _sign_in_target(answer.text) == CITY_MAP
    assert SESSION_ENDED not in unescape(answer.text)  # no session to speak of


@pytest.mark.parametrize("accept", JSON_ACCEPTS)
def test_programs_keep_the_json_error(app: Any, accept: str) -> None:
    answer = TestClient(app).get(CITY_MAP, headers={"Accept": accept})
    assert answer.status_code == 401
    assert answer.headers["content-type"].startswith("application/json")
    assert set(answer.json()) == {"code", "description"}
    assert answer.json()["code"] == "authentication_required"


def test_point_records_in_a_browser_get_the_page_too(app: Any) -> None:
    client = TestClient(app)
    path = "/collections/cases/items?limit=5"
    page = client.get(path, headers={"Accept": BROWSER})
    assert page.status_code == 401 and _sign_in_target(page.text) == path
    assert set(client.get(path).json()) == {"code", "description"}


def test_the_sign_in_link_leads_back_to_the_page(app: Any, store: Engine) -> None:
    browser = TestClient(app)
    page = browser.get(CITY_MAP, headers={"Accept": BROWSER})
    target = _sign_in_target(page.text)
    form = browser.get("/login", params={"next": target})
    assert form.status_code == 200
    assert f'name="next" value="{target}"'.replace("&", "&amp;") in form.text
    key = _key(store, "leader", "450100")
    answer = browser.post("/login", data={"api_key": key, "next": target}, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == CITY_MAP
    assert browser.cookies.get("geo_session")


@pytest.mark.parametrize("accept", [BROWSER, "*/*", "application/json"])
def test_outside_the_jurisdiction_is_a_403_page_or_json(
    app: Any, store: Engine, accept: str
) -> None:
    key = _key(store, "gis", "450102")
    answer = TestClient(app).get(
        "/maps/hexagons?jurisdiction=450103",
        headers={"Accept": accept, "Authorization": f"Bearer {key}"},
    )
    assert answer.status_code == 403 and "Accept" in answer.headers["vary"]
    if accept != BROWSER:
        assert set(answer.json()) == {"code", "description"}
        return
    html = answer.text
    assert answer.headers["content-type"].startswith("text/html")
    assert "无权查看" in html and "Not permitted" in html
    assert "gis-" in html and "兴宁区 450102" in html and "GIS 人员" in html
    assert "辖区或角色" in html and "jurisdiction or role" in html
    assert _sign_in_target(html) == "/maps/hexagons?jurisdiction=450103"


def test_a_wrong_role_is_a_403_page(app: Any, store: Engine) -> None:
    key = _key(store, "inspector", "450102")
    headers = {"Accept": BROWSER, "Authorization": f"Bearer {key}"}
    answer = TestClient(app).get("/audit", headers=headers)
    assert answer.status_code == 403 and "执法人员" in answer.text
    assert "admin" in answer.text  # the reason: the role it needs


def _expire(store: Engine, token: str) -> None:
    digest = hashlib.sha256(token.encode()).hexdigest()
    past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    with store.begin() as conn:
        conn.execute(
            update(LoginSession).where(LoginSession.token_hash == digest).values(expires_at=past)
        )
    forget_cached_credentials()


def _stale_browser(app: Any, store: Engine) -> TestClient:
    """A browser whose log-in session has expired (its cookie still sent)."""
    key = _key(store, "leader", "450100")
    browser = TestClient(app)
    assert browser.post("/login", data={"api_key": key}, follow_redirects=False).is_redirect
    token = browser.cookies["geo_session"]
    assert browser.get(POINTS, headers={"Accept": "application/json"}).status_code == 200
    _expire(store, token)
    return browser


def test_an_expired_session_is_anonymous_with_a_note(app: Any, store: Engine) -> None:
    browser = _stale_browser(app, store)
    page = browser.get(CITY_MAP, headers={"Accept": BROWSER})
    assert page.status_code == 401 and SESSION_ENDED in unescape(page.text)
    assert _sign_in_target(page.text) == CITY_MAP
    cleared = page.headers["set-cookie"]
    assert "geo_session=" in cleared and ("max-age=0" in cleared.lower() or '=""' in cleared)


def test_an_expired_session_in_json_says_so(app: Any, store: Engine) -> None:
    browser = _stale_browser(app, store)
    answer = browser.get(CITY_MAP, headers={"Accept": "application/json"})
    assert answer.status_code == 401 and set(answer.json()) == {"code", "description"}
    assert SESSION_ENDED in answer.json()["description"]


def test_an_expired_session_still_sees_the_public_pages(app: Any, store: Engine) -> None:
    browser = _stale_browser(app, store)
    landing = browser.get("/", headers={"Accept": BROWSER})
    assert landing.status_code == 200
    assert _sign_in_target(landing.text) == "/" and "退出 Sign out" not in landing.text
    public = browser.get("/maps/cell/864153cb7ffffff", headers={"Accept": "application/json"})
    assert public.status_code == 200  # the public view of a resolution-6 cell


def test_a_wrong_key_is_still_a_401_not_a_visitor(app: Any) -> None:
    answer = TestClient(app).get("/", headers={"Authorization": "Bearer gs_wrong"})
    assert answer.status_code == 401 and set(answer.json()) == {"code", "description"}


def _request(method: str, accept: str | None) -> Request:
    headers = [] if accept is None else [(b"accept", accept.encode())]
    return Request({"type": "http", "method": method, "headers": headers, "path": "/"})


def test_only_reads_get_pages() -> None:
    assert prefers_html(_request("GET", BROWSER)) and prefers_html(_request("HEAD", BROWSER))
    assert not prefers_html(_request("POST", BROWSER))
    assert not prefers_html(_request("GET", None))


# --- /login?next= ---------------------------------------------------------------------------

HOSTILE_NEXT = [
    "//evil.example/x",
    "https://evil.example/",
    "/\\evil.example",
    "\\\\evil.example",
    "/\t/evil.example",
    "/\n/evil.example",
    "/ /evil.example",
    "javascript:alert(1)",
    "evil.example",
    "/login",
    "/logout?next=/",
    "/" + "a" * 3000,
    "",
]


@pytest.mark.parametrize("target", HOSTILE_NEXT)
def test_next_never_leads_off_the_service(app: Any, store: Engine, target: str) -> None:
    assert safe_next(target) == "/"
    client = TestClient(app)
    form = client.get("/login", params={"next": target})
    assert 'name="next" value="/"' in form.text
    key = _key(store, "gis", "450000")
    answer = client.post("/login", data={"api_key": key, "next": target}, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/"


@pytest.mark.parametrize(
    "target", ["/maps/hexagons?jurisdiction=450100&period=2024", "/enterprises/X.html", "/"]
)
def test_next_keeps_a_path_of_the_service(target: str) -> None:
    assert safe_next(target) == target


def test_a_wrong_key_answers_the_form_again(app: Any) -> None:
    answer = TestClient(app).post("/login", data={"api_key": "gs_wrong", "next": CITY_MAP})
    assert answer.status_code == 401 and "set-cookie" not in answer.headers
    assert "密钥无效" in answer.text and 'name="api_key"' in answer.text
    assert f'value="{CITY_MAP}"' in answer.text
