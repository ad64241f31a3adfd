"""The maps in headless Chromium: the sign-in prompt in place of refused layers, the map
file opened from disk with no network, and Chinese set in the bundled font on a system
without CJK fonts.

Font environment: fontconfig is pointed at a folder holding only DejaVu Sans (matplotlib's
copy: Latin, no CJK), so every Chinese character on screen comes from the pages' own
font. Not an empty folder: Debian's Chromium, with no font at all, aborts in
``SkFontMgr_FontConfigInterface`` ("Not implemented") drawing its own UI text and fails
the first web font of each renderer — a system with Latin fonts only is the case the
issue describes (no CJK fonts installed).
"""

from __future__ import annotations

import io
import os
import shutil
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import matplotlib
import numpy as np
import pytest
from PIL import Image

from geo_service.core.paths import PROJECT_ROOT
from tests.conftest import LiveServer
from tests.geo_service.browser import LOCAL_HOSTS, launch

ARTIFACTS = PROJECT_ROOT / "test-artifacts" / "maps"
CITY = "450100"  # 南宁市
FONT = '"Noto Sans SC"'
MISSING = '"No Such Font 7f3a"'  # a family no system has: Chinese in it is .notdef boxes


@pytest.fixture(scope="module")
def playwright() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as running:
        yield running


@pytest.fixture(scope="module")
def browser(playwright: Any) -> Iterator[Any]:
    """Debian's Chromium, with the system's fonts."""
    chromium = launch(playwright)
    yield chromium
    chromium.close()


@pytest.fixture(scope="module")
def latin_only_browser(playwright: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Chromium whose fontconfig knows DejaVu Sans alone: no CJK font on the system."""
    folder = tmp_path_factory.mktemp("fonts")
    fonts = folder / "fonts"
    fonts.mkdir()
    mpl_fonts = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    shutil.copy(mpl_fonts / "DejaVuSans.ttf", fonts)
    conf = folder / "fonts.conf"
    conf.write_text(
        '<?xml version="1.0"?><!DOCTYPE fontconfig SYSTEM "fonts.dtd"><fontconfig>'
        f"<dir>{fonts}</dir><cachedir>{folder / 'cache'}</cachedir></fontconfig>",
        encoding="utf-8",
    )
    chromium = launch(playwright, {**os.environ, "FONTCONFIG_FILE": str(conf)})
    yield chromium
    chromium.close()


@dataclass
class Seen:
    """What a page did: requests (URL), answers (status, URL), refused and failed requests,
    errors."""

    requests: list[str] = field(default_factory=list)
    answers: list[tuple[int, str]] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def data_requests(self, start: int = 0) -> list[str]:
        """Requests for the maps' data (tiles but the public boundaries, legends, cells)."""
        return [
            u
            for u in self.requests[start:]
            if ("/tiles/" in u and "/tiles/jurisdictions/" not in u) or "/maps/cell/" in u
        ]

    def unauthorized(self) -> list[str]:
        return [u for status, u in self.answers if status == 401]


def _context(browser: Any, *, local_only: bool = True, **options: Any) -> tuple[Any, Any, Seen]:
    """A page whose requests, answers and errors are recorded; with ``local_only`` every
    request leaving 127.0.0.1 (or, for a file, the disk) is aborted and recorded."""
    # bypass_csp: Playwright's wait_for_function evaluates its predicate with eval inside
    # the page, which the service's Content-Security-Policy forbids (no 'unsafe-eval')
    context = browser.new_context(
        viewport={"width": 1280, "height": 800}, locale="zh-CN", bypass_csp=True, **options
    )
    seen = Seen()

    def route(request_route: Any) -> None:
        url = request_route.request.url
        parts = urlsplit(url)
        if parts.scheme in ("file", "data") or (local_only and parts.hostname in LOCAL_HOSTS):
            seen.requests.append(url)
            request_route.continue_()
        else:
            seen.refused.append(url)
            request_route.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.on("response", lambda r: seen.answers.append((r.status, r.url)))
    page.on("requestfailed", lambda r: seen.failed.append(r.url))
    page.on("console", lambda m: seen.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: seen.errors.append(f"page error: {e}"))
    return context, page, seen


def _log_in(page: Any, server: LiveServer, target: str) -> None:
    page.goto(f"{server.url}/login?next={quote(target)}")
    page.fill("input[name=api_key]", server.api_key)
    with page.expect_navigation():
        page.click("button[type=submit]")


def _settle(page: Any) -> None:
    page.wait_for_load_state("networkidle")
    page.wait_for_function(
        "Object.values(geoMap.refs).every(l => !(l && l.isLoading && l.isLoading()))"
    )


def _screenshot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


# ---------------------------------------------------------------- the sign-in prompt


def test_an_anonymous_city_pick_shows_the_sign_in_prompt(
    browser: Any, live_server: LiveServer
) -> None:
    context, page, seen = _context(browser)
    page.goto(f"{live_server.url}/maps/hexagons")
    page.wait_for_function("document.querySelectorAll('path.geo-hexagon').length > 0")
    _settle(page)
    assert page.evaluate("geoMap.config.account") is False
    start = len(seen.requests)
    page.select_option("select.geo-jurisdiction", CITY)
    prompt = page.locator(".geo-signin")
    prompt.wait_for(state="visible")
    page.wait_for_load_state("networkidle")
    assert "查看市、县（区）级数据需要登录" in prompt.inner_text()
    link = page.get_attribute(".geo-signin a.geo-login", "href")
    assert link == "/login?next=" + quote(f"/maps/hexagons?jurisdiction={CITY}", safe="")
    assert not page.locator(".geo-legend").is_visible()  # no legend over an empty map
    assert not page.locator(".geo-download").is_visible()  # nor a file that would be refused
    assert page.locator("path.geo-hexagon").count() == 0
    assert seen.data_requests(start) == []  # no tile asked for that would be refused
    assert seen.unauthorized() == []
    page.evaluate("geoMap.map.panBy([200, 120])")  # moving the map asks for nothing either
    page.wait_for_load_state("networkidle")
    assert seen.data_requests(start) == [] and seen.unauthorized() == []
    _screenshot(page, "anonymous-city-sign-in")
    # back to the whole region: the public view again
    page.select_option("select.geo-jurisdiction", "")
    page.wait_for_function("document.querySelectorAll('path.geo-hexagon').length > 0")
    assert not prompt.is_visible() and page.locator(".geo-legend").is_visible()
    assert page.locator(".geo-download").is_visible()
    # the link logs in and comes back to the city
    page.select_option("select.geo-jurisdiction", CITY)
    prompt.wait_for(state="visible")
    page.click(".geo-signin a.geo-login")
    page.wait_for_selector("input[name=api_key]")
    page.fill("input[name=api_key]", live_server.api_key)
    with page.expect_navigation():
        page.click("button[type=submit]")
    assert urlsplit(page.url).path == "/maps/hexagons"
    assert parse_qs(urlsplit(page.url).query)["jurisdiction"] == [CITY]
    page.wait_for_function("document.querySelectorAll('path.geo-hexagon').length > 0")
    assert page.evaluate("geoMap.config.account") is True
    assert seen.unauthorized() == [] and seen.refused == [] and seen.errors == []
    context.close()


def test_an_ended_session_turns_the_map_to_the_prompt(
    browser: Any, live_server: LiveServer
) -> None:
    context, page, seen = _context(browser)
    _log_in(page, live_server, "/maps/hexagons")
    page.wait_for_function("document.querySelectorAll('path.geo-hexagon').length > 0")
    _settle(page)
    # the session ends behind the page's back (logged out elsewhere): the cookie stays
    cookie = next(c for c in context.cookies() if c["name"] == "geo_session")
    request = urllib.request.Request(
        f"{live_server.url}/logout",
        method="POST",
        headers={"Cookie": f"geo_session={cookie['value']}"},
    )
    with urllib.request.urlopen(request):  # the live server only
        pass
    start = len(seen.requests)
    industry = page.evaluate("geoMap.config.industries[0].code")
    page.select_option("select.geo-industry", industry)
    prompt = page.locator(".geo-signin")
    prompt.wait_for(state="visible")
    shown_at = page.evaluate("performance.now()")  # the page's own clock
    page.wait_for_load_state("networkidle")
    assert "登录已过期" in prompt.inner_text()
    refused = seen.unauthorized()
    assert refused and set(refused) <= set(seen.data_requests(start))
    assert all(f"industry={industry}" in u for u in refused)  # the one batch in flight
    page.evaluate("geoMap.map.setZoom(geoMap.map.getZoom() + 1)")
    page.select_option("select.geo-industry", "")
    page.evaluate("geoMap.map.panBy([150, 80])")
    page.wait_for_load_state("networkidle")
    later = page.evaluate(
        """(t) => performance.getEntriesByType("resource")
          .filter(e => e.startTime > t && (/\\/maps\\/cell\\//.test(e.name) ||
                  (/\\/tiles\\//.test(e.name) && !/\\/tiles\\/jurisdictions\\//.test(e.name))))
          .map(e => e.name)""",
        shown_at,
    )
    assert later == [], "data asked for after the prompt"
    assert all(f"industry={industry}" in u for u in seen.unauthorized())  # none since
    assert prompt.is_visible() and not page.locator(".geo-legend").is_visible()
    href = page.get_attribute(".geo-signin a.geo-login", "href")
    assert href.startswith("/login?next=" + quote("/maps/hexagons", safe=""))
    _screenshot(page, "session-ended-sign-in")
    context.close()


# ---------------------------------------------------------------- map files


def _download(browser: Any, server: LiveServer, target: str, folder: Path) -> Path:
    """The map file, downloaded as a reader would: the page's link, logged in."""
    context, page, _seen = _context(browser)
    _log_in(page, server, target)
    page.wait_for_function("window.geoMap !== undefined")
    link = page.get_attribute(".geo-download a", "href")
    assert link.startswith(urlsplit(target).path + "/file")
    with page.expect_download() as info:
        page.click(".geo-download a")
    download = info.value
    assert download.suggested_filename.endswith(".html")
    path = folder / download.suggested_filename
    download.save_as(path)
    context.close()
    return path


def _open_offline(browser: Any, path: Path) -> tuple[Any, Any, Seen]:
    """The file from disk in a context with no network: every http(s) request aborted."""
    context, page, seen = _context(browser, local_only=False, offline=True)
    page.goto(path.as_uri())
    page.wait_for_function("window.geoMap !== undefined")
    page.wait_for_load_state("networkidle")
    return context, page, seen


def _assert_self_contained(seen: Seen) -> None:
    assert seen.refused == [], f"the file reached for the network: {seen.refused}"
    assert seen.failed == [] and seen.errors == []
    assert all(urlsplit(u).scheme in ("file", "data") for u in seen.requests), seen.requests


@pytest.mark.parametrize(
    ("target", "drawn"),
    [
        (f"/maps/hexagons?jurisdiction={CITY}&period=2024", "path.geo-hexagon"),
        ("/maps/clusters", "path.geo-case"),
        ("/maps/local-moran", "path.geo-local-moran"),
    ],
)
def test_a_map_file_draws_from_disk_with_no_network(
    browser: Any, live_server: LiveServer, tmp_path: Path, target: str, drawn: str
) -> None:
    path = _download(browser, live_server, target, tmp_path)
    context, page, seen = _open_offline(browser, path)
    page.wait_for_function("(s) => document.querySelectorAll(s).length > 0", arg=drawn)
    page.wait_for_function("document.querySelectorAll('path.geo-boundary').length > 0")
    config = page.evaluate("geoMap.config")
    assert config["file"] and config["filters"] == {
        k: v[0] for k, v in parse_qs(urlsplit(target).query).items()
    }
    features = page.evaluate(
        "geoMap.refs[geoMap.config.layers.at(-1).id].getLayers().length"  # what it holds
    )
    assert page.locator(drawn).count() == features > 0
    assert page.locator(".geo-legend .geo-row").count() > 0
    assert page.locator(".leaflet-control-scale-line").count() == 1  # metric only
    assert page.locator(".geo-fixed").inner_text().count("\t") >= 3  # its filters, shown
    # a click shows the pop-up from what the file holds
    page.mouse.click(*_clickable(page, drawn))
    page.wait_for_selector(".leaflet-popup-content .geo-popup table")
    _screenshot(page, f"file-{path.stem}")
    _assert_self_contained(seen)
    context.close()


def _clickable(page: Any, selector: str) -> tuple[float, float]:
    """Centre of a drawn feature that is on top there, clear of the panels."""
    point = page.evaluate(
        """(s) => {
        for (const p of document.querySelectorAll(s)) {
          const r = p.getBoundingClientRect();
          const x = r.left + r.width / 2, y = r.top + r.height / 2;
          if (r.width > 0 && x > 330 && x < 1000 && y > 130 && y < 650 &&
              document.elementFromPoint(x, y) === p) return [x, y];
        }
        return null;
    }""",
        selector,
    )
    assert point, f"no {selector} can be clicked"
    return point[0], point[1]


def test_the_heat_map_file_draws_its_surface_from_disk(
    browser: Any, live_server: LiveServer, tmp_path: Path
) -> None:
    path = _download(browser, live_server, "/maps/heatmap", tmp_path)
    context, page, seen = _open_offline(browser, path)
    page.wait_for_function(
        "[...document.querySelectorAll('img.geo-heat')].some(i => i.complete && i.naturalWidth > 0)"
    )
    page.wait_for_function("document.querySelectorAll('.geo-legend .geo-row').length > 0")
    _screenshot(page, "file-heatmap")
    _assert_self_contained(seen)
    context.close()


# ---------------------------------------------------------------- fonts


def _crop(page: Any, selector: str) -> np.ndarray:
    png = page.locator(selector).screenshot()
    return np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=np.int16)


def _samples(page: Any, family: str) -> tuple[np.ndarray, np.ndarray]:
    """Two different place names drawn the same size in ``family``, beside the map."""
    page.evaluate(
        """(family) => {
        for (const [id, text] of [["a", "南宁市"], ["b", "柳州市"]]) {
          const el = document.createElement("div");
          el.id = "sample-" + id; el.textContent = text;
          el.style.cssText = "position:fixed;z-index:2000;left:600px;top:" +
            (id === "a" ? 300 : 360) + "px;font:32px " + family +
            ";background:#fff;color:#000;padding:4px;width:120px;height:44px";
          document.body.appendChild(el);
        }
    }""",
        family,
    )
    a, b = _crop(page, "#sample-a"), _crop(page, "#sample-b")
    page.evaluate("document.querySelectorAll('[id^=sample-]').forEach(e => e.remove())")
    return a, b


def _assert_chinese_in_the_bundled_font(page: Any, name: str) -> None:
    page.evaluate("document.fonts.ready")
    assert page.evaluate(f"document.fonts.check('12px {FONT}', '南宁市')")
    label = page.locator(".geo-label.geo-city").first
    assert page.evaluate(
        "(e) => getComputedStyle(e).fontFamily", label.element_handle()
    ).startswith(FONT)
    ours, other = _samples(page, FONT)
    boxes, more_boxes = _samples(page, MISSING)
    # without a CJK font, different names are the same row of .notdef boxes; in the
    # bundled font they are different glyphs, and neither looks like the boxes
    assert np.array_equal(boxes, more_boxes)
    assert np.abs(ours - other).mean() > 2
    assert np.abs(ours - boxes).mean() > 2 and np.abs(other - boxes).mean() > 2
    assert (ours < 128).sum() > 50  # ink: the glyphs are drawn
    _screenshot(page, name)


def test_a_page_sets_chinese_in_the_bundled_font(
    latin_only_browser: Any, live_server: LiveServer
) -> None:
    context, page, seen = _context(latin_only_browser)
    page.goto(f"{live_server.url}/maps/hexagons")
    page.wait_for_function("document.querySelectorAll('.geo-label.geo-city').length > 0")
    _settle(page)
    fonts = [u for u in seen.requests if "/static/vendor/fonts/NotoSansSC-" in u]
    assert fonts, "the page loads the bundled font from the service"
    _assert_chinese_in_the_bundled_font(page, "font-page")
    assert seen.refused == [] and seen.errors == []
    context.close()


def test_a_map_file_sets_chinese_in_its_inline_font(
    browser: Any, latin_only_browser: Any, live_server: LiveServer, tmp_path: Path
) -> None:
    path = _download(browser, live_server, "/maps/commonalities", tmp_path)
    context, page, seen = _open_offline(latin_only_browser, path)
    page.wait_for_function("document.querySelectorAll('.geo-label.geo-city').length > 0")
    _assert_chinese_in_the_bundled_font(page, "font-file")
    _assert_self_contained(seen)
    context.close()
