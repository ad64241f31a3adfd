"""Signing in from a page one may not see, in headless Chromium against the real service.

A visitor opening a city's map gets the Chinese sign-in page (401); its link leads to
``/login`` and, once the key is in, back to the map, which then draws. A browser whose
session has ended is told so on the same page. Requests leaving 127.0.0.1 are aborted
and recorded; screenshots go to ``test-artifacts/maps/``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from geo_service.core.paths import PROJECT_ROOT
from tests.conftest import LiveServer
from tests.geo_service.browser import LOCAL_HOSTS
from tests.geo_service.browser import chromium as launch_chromium

ARTIFACTS = PROJECT_ROOT / "test-artifacts" / "maps"
CITY_MAP = "/maps/hexagons?jurisdiction=450100"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium for the module (Debian's, never a downloaded one)."""
    yield from launch_chromium()


@pytest.fixture
def context(browser: Any) -> Iterator[tuple[Any, list[str]]]:
    """A fresh browser context (no cookies) and the outside requests it tried."""
    # bypass_csp: Playwright's wait_for_function evaluates its predicate with eval inside
    # the page, which the service's Content-Security-Policy forbids (no 'unsafe-eval')
    ctx = browser.new_context(
        viewport={"width": 1280, "height": 800}, locale="zh-CN", bypass_csp=True
    )
    external: list[str] = []

    def route(request_route: Any) -> None:
        url = request_route.request.url
        if urlsplit(url).hostname in LOCAL_HOSTS:
            request_route.continue_()
        else:
            external.append(url)
            request_route.abort()

    ctx.route("**/*", route)
    yield ctx, external
    ctx.close()


def _screenshot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def test_a_visitor_signs_in_from_the_page_and_lands_back_on_it(
    context: tuple[Any, list[str]], live_server: LiveServer
) -> None:
    ctx, external = context
    page = ctx.new_page()
    response = page.goto(live_server.url + CITY_MAP)
    assert response is not None and response.status == 401
    assert "需要登录" in page.locator("h1").inner_text()
    assert "此页面需要账号" in page.locator("body").inner_text()
    _screenshot(page, "sign-in-needed")
    link = page.locator("a.signin")
    assert link.inner_text().startswith("登录")
    with page.expect_navigation():
        link.click()
    at = urlsplit(page.url)
    assert at.path == "/login" and parse_qs(at.query)["next"] == [CITY_MAP]
    page.fill("input[name=api_key]", live_server.api_key)
    with page.expect_navigation():
        page.click("button[type=submit]")
    landed = urlsplit(page.url)
    assert landed.path + "?" + landed.query == CITY_MAP
    page.wait_for_function("window.geoMap !== undefined")
    page.wait_for_function("document.querySelectorAll('path.geo-hexagon').length > 0")
    assert page.input_value("select.geo-jurisdiction") == "450100"
    _screenshot(page, "signed-in-city-map")
    assert external == []


def test_an_ended_session_is_told_to_sign_in_again(
    context: tuple[Any, list[str]], live_server: LiveServer
) -> None:
    ctx, external = context
    host = urlsplit(live_server.url).hostname
    ctx.add_cookies([{"name": "geo_session", "value": "ended-token", "domain": host, "path": "/"}])
    page = ctx.new_page()
    response = page.goto(live_server.url + CITY_MAP)
    assert response is not None and response.status == 401
    assert "登录已结束" in page.locator(".note").inner_text()
    assert "geo_session" not in {c["name"] for c in ctx.cookies()}  # cleared by the answer
    public = page.goto(live_server.url + "/maps/hexagons")  # the public view, as a visitor
    assert public is not None and public.status == 200
    assert external == []


def test_the_api_docs_offer_the_authorize_button(
    context: tuple[Any, list[str]], live_server: LiveServer
) -> None:
    ctx, external = context
    page = ctx.new_page()
    response = page.goto(live_server.url + "/docs")
    assert response is not None and response.status == 200
    page.wait_for_selector(".swagger-ui .opblock-tag")
    tags = page.eval_on_selector_all(
        ".swagger-ui .opblock-tag", "ts => ts.map(t => t.getAttribute('data-tag'))"
    )
    assert "default" not in tags and {"collections", "tiles", "maps", "accounts"} <= set(tags)
    page.click(".swagger-ui .btn.authorize")
    page.wait_for_selector(".swagger-ui .auth-container")
    shown = page.locator(".swagger-ui .dialog-ux").inner_text()
    for scheme in ("bearerKey", "apiKeyHeader", "basicKey", "sessionCookie"):
        assert scheme in shown, scheme
    _screenshot(page, "docs-authorize")
    assert external == []
