"""The maps in headless Chromium against the real service (uvicorn over the built sample store).

Every request leaving 127.0.0.1/localhost is aborted and recorded: a page that tries
one fails, as does any console error or page error. Screenshots go to
``test-artifacts/maps/``.
"""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import h3
import pandas as pd
import pytest

from geo_service.core.paths import PROJECT_ROOT
from geo_service.store.queries import read_frame
from layers.maps import MAPS
from tests.conftest import LiveServer, serve_store
from tests.geo_service.browser import LOCAL_HOSTS
from tests.geo_service.browser import chromium as launch_chromium

ARTIFACTS = PROJECT_ROOT / "test-artifacts" / "maps"
#: What each map draws: the CSS class of its data paths (None: heat raster tiles).
DRAWN = {
    "heatmap": None,
    "hexagons": "geo-hexagon",
    "hotspots": "geo-hotspot",
    "local-moran": "geo-local-moran",
    "emerging": "geo-emerging",
    "clusters": "geo-cluster",
    "commonalities": "geo-commonality",
    "planner": "geo-risk",
}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium for the module (Debian's, never a downloaded one)."""
    yield from launch_chromium()


@dataclass
class Watched:
    """A page and what it did: requests made, requests refused, errors, failed responses."""

    page: Any
    base: str
    requests: list[str] = field(default_factory=list)
    external: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    key: str = ""

    def goto(self, path: str) -> None:
        response = self.page.goto(self.base + path)
        assert response is not None and response.status == 200, path

    def tiles_since(self, start: int, layer: str) -> list[str]:
        return [u for u in self.requests[start:] if f"/tiles/{layer}/" in u]

    def assert_clean(self) -> None:
        assert self.external == [], f"the page tried to reach outside: {self.external}"
        assert self.errors == [], f"errors in the page: {self.errors}"


@pytest.fixture
def watched(browser: Any, live_server: LiveServer) -> Iterator[Watched]:
    yield from _watch(browser, live_server)


def _watch(browser: Any, live_server: LiveServer) -> Iterator[Watched]:
    """A logged-in page of the server, every request and error recorded."""
    # bypass_csp: Playwright's wait_for_function evaluates its predicate with eval inside
    # the page, which the service's Content-Security-Policy forbids (no 'unsafe-eval')
    context = browser.new_context(
        viewport={"width": 1280, "height": 800}, locale="zh-CN", bypass_csp=True
    )
    page = context.new_page()
    seen = Watched(page, live_server.url)

    def route(request_route: Any) -> None:
        url = request_route.request.url
        if urlsplit(url).hostname in LOCAL_HOSTS:
            seen.requests.append(url)
            request_route.continue_()
        else:
            seen.external.append(url)
            request_route.abort()

    def on_response(response: Any) -> None:
        if response.status >= 400:
            seen.errors.append(f"HTTP {response.status} {response.url}")

    context.route("**/*", route)
    # log in as a person would: the form at /login posts the key and the answer sets the
    # HttpOnly session cookie the maps and tiles use
    page.goto(f"{live_server.url}/login?next=/maps/hexagons")
    page.fill("input[name=api_key]", live_server.api_key)
    with page.expect_navigation():
        page.click("button[type=submit]")
    assert urlsplit(page.url).path == "/maps/hexagons"
    cookies = {c["name"]: c for c in context.cookies()}
    assert cookies["geo_session"]["httpOnly"]
    seen.requests.clear()
    seen.key = live_server.api_key
    page.on("response", on_response)
    page.on(
        "console", lambda m: seen.errors.append(f"console: {m.text}") if m.type == "error" else None
    )
    page.on("pageerror", lambda e: seen.errors.append(f"page error: {e}"))
    yield seen
    context.close()


def _screenshot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def _wait_drawn(watched: Watched, name: str) -> None:
    """Leaflet loaded, the page wired, boundaries and the map's own layer drawn."""
    page = watched.page
    page.wait_for_function("window.L !== undefined && window.geoMap !== undefined")
    page.wait_for_function("document.querySelectorAll('path.geo-boundary').length > 0")
    cls = DRAWN[name]
    if cls is None:
        page.wait_for_function(
            "[...document.querySelectorAll('img.leaflet-tile-loaded')]"
            ".some(i => i.src.includes('/tiles/kde/') && i.naturalWidth === 256)"
        )
    else:
        page.wait_for_function(f"document.querySelectorAll('path.{cls}').length > 0")
    page.wait_for_function("document.querySelectorAll('.geo-legend .geo-row').length > 0")
    _settle(page)


def _settle(page: Any) -> None:
    """Every tile layer done loading (Leaflet's own account), faded in, the network quiet."""
    page.wait_for_load_state("networkidle")
    page.wait_for_function(
        "Object.values(geoMap.refs).every(l => !(l && l.isLoading && l.isLoading()))"
        " && [...document.querySelectorAll('.leaflet-tile-loaded')]"
        ".every(t => !t.style.opacity || t.style.opacity === '1')"  # faded in
    )


def _get_json(base: str, path: str, key: str) -> Any:
    request = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(request) as response:  # the live server only
        return json.load(response)


def _busiest_month(live_server: LiveServer) -> str:
    dates = read_frame(live_server.engine, "cases", None, ["decision_date"])["decision_date"]
    return str(dates.astype(str).str[:7].value_counts().sort_index().idxmax())


@pytest.mark.parametrize("name", list(MAPS))
def test_map_draws_offline(watched: Watched, name: str) -> None:
    watched.goto(f"/maps/{name}")
    _wait_drawn(watched, name)
    page = watched.page
    assert page.title().startswith(MAPS[name].title)
    for control in ("select.geo-jurisdiction", "select.geo-industry", "input.geo-range"):
        assert page.locator(control).count() == 1, control
    layer = page.evaluate("geoMap.config.layers[0].path").split("/")[2]
    assert watched.tiles_since(0, layer) and watched.tiles_since(0, "jurisdictions")
    _screenshot(page, name)
    watched.assert_clean()


def _clickable_hexagon(page: Any) -> tuple[float, float]:
    """Centre of a drawn hexagon with cases (not the zero colour) that is on top there."""
    point = page.evaluate(
        """() => {
        const zero = geoMap.config.legend.classes.slice(-1)[0].colour;
        for (const p of document.querySelectorAll('path.geo-hexagon')) {
          if (p.getAttribute('fill') === zero) continue;
          const r = p.getBoundingClientRect();
          const x = r.left + r.width / 2, y = r.top + r.height / 2;
          if (x > 330 && x < 1000 && y > 130 && y < 650 && document.elementFromPoint(x, y) === p)
            return [x, y];
        }
        return null;
    }"""
    )
    assert point, "no hexagon with cases can be clicked"
    return point[0], point[1]


def test_clicking_a_hexagon_shows_its_profile(watched: Watched) -> None:
    watched.goto("/maps/hexagons")
    _wait_drawn(watched, "hexagons")
    page = watched.page
    page.mouse.click(*_clickable_hexagon(page))
    page.wait_for_selector(".leaflet-popup-content .geo-popup ol")
    text = page.locator(".leaflet-popup-content").inner_text()
    cell = re.search(r"H3 ([0-9a-f]{15})", text).group(1)  # type: ignore[union-attr]
    expected = _get_json(watched.base, f"/maps/cell/{cell}", watched.key)
    shown = re.search(r"案件数 Cases\s+([\d,]+)", text).group(1)  # type: ignore[union-attr]
    assert int(shown.replace(",", "")) == expected["cases"] >= 1
    assert f"现场检查 Inspections\t{expected['inspections']:,}" in text
    assert "主要问题类型" in text and "主要企业" in text
    assert expected["top_enterprises"][0][0] in text
    resolution = h3.get_resolution(cell)
    assert any(f"resolution={resolution}" in u for u in watched.tiles_since(0, "hexagons"))
    _screenshot(page, "hexagons-popup")
    watched.assert_clean()


@pytest.mark.parametrize("name", ["heatmap", "hexagons", "emerging"])
def test_the_month_slider_redraws_with_the_period(
    watched: Watched, live_server: LiveServer, name: str
) -> None:
    watched.goto(f"/maps/{name}")
    _wait_drawn(watched, name)
    page = watched.page
    time = page.evaluate("geoMap.config.time")
    labels = [step[0] for step in time["steps"]]
    busiest = _busiest_month(live_server)  # for a period: a month with cases, surely
    index = labels.index(busiest) if time["param"] == "period" else len(labels) // 2
    value = time["steps"][index][1]
    layer = page.evaluate("geoMap.config.layers[0].path").split("/")[2]
    start = len(watched.requests)
    page.evaluate(
        """(i) => { const r = document.querySelector('input.geo-range'); r.value = String(i);
                    r.dispatchEvent(new Event('input')); r.dispatchEvent(new Event('change')); }""",
        index,
    )
    page.wait_for_function(
        "([layer, pair]) => performance.getEntriesByType('resource')"
        ".some(e => e.name.includes('/tiles/' + layer + '/') && e.name.includes(pair))",
        arg=[layer, f"{time['param']}={value}"],
    )
    _settle(page)
    redrawn = watched.tiles_since(start, layer)
    assert redrawn and all(
        parse_qs(urlsplit(u).query).get(time["param"]) == [value] for u in redrawn
    ), redrawn
    assert page.locator(".geo-month").inner_text() == labels[index]
    assert f"{time['param']}={value}" in page.url
    if name == "heatmap":  # the legend follows the surface of the month
        legends = [u for u in watched.requests[start:] if "/tiles/kde/legend.json" in u]
        assert legends and f"period={value}" in legends[-1]
        page.wait_for_function(
            "(v) => [...document.querySelectorAll('img.leaflet-tile-loaded')]"
            ".some(i => i.src.includes('period=' + v) && i.naturalWidth === 256)",
            arg=value,
        )
    _screenshot(page, f"{name}-{labels[index]}")
    watched.assert_clean()


def test_play_steps_through_the_months(watched: Watched) -> None:
    watched.goto("/maps/hexagons")
    _wait_drawn(watched, "hexagons")
    page = watched.page
    steps = page.evaluate("geoMap.config.time.steps")
    page.click("button.geo-play")
    page.wait_for_function(
        "(label) => document.querySelector('.geo-month').textContent === label", arg=steps[1][0]
    )
    page.click("button.geo-play")  # pause
    assert page.locator("button.geo-play").inner_text().endswith("播放")
    played = {
        parse_qs(urlsplit(u).query).get("period", [""])[0]
        for u in watched.tiles_since(0, "hexagons")
    }
    assert {steps[0][1], steps[1][1]} <= played
    _settle(page)
    watched.assert_clean()


def test_the_picker_reloads_layers_for_a_city_and_an_industry(watched: Watched) -> None:
    watched.goto("/maps/hexagons")
    _wait_drawn(watched, "hexagons")
    page = watched.page
    zoom = page.evaluate("geoMap.map.getZoom()")
    city = page.evaluate("geoMap.config.jurisdictions.find(j => j.level === 'city').adcode")
    industry = page.evaluate("geoMap.config.industries[0].code")
    start = len(watched.requests)
    page.select_option("select.geo-jurisdiction", city)
    page.select_option("select.geo-industry", industry)
    page.wait_for_function(
        "(q) => performance.getEntriesByType('resource').some(e => e.name.includes(q))",
        arg=f"jurisdiction={city}&industry={industry}",
    )
    _settle(page)
    assert page.evaluate("geoMap.map.getZoom()") > zoom  # zoomed to the city
    last = watched.tiles_since(start, "hexagons")[-1]
    assert parse_qs(urlsplit(last).query)["jurisdiction"] == [city]
    assert parse_qs(urlsplit(last).query)["industry"] == [industry]
    watched.assert_clean()


def test_landing_page_with_the_overview_map(watched: Watched) -> None:
    watched.goto("/")
    page = watched.page
    assert "生态环境执法地图" in page.locator("h1").inner_text()
    hrefs = page.eval_on_selector_all("a", "as => as.map(a => a.getAttribute('href'))")
    assert {f"/maps/{name}" for name in MAPS} <= set(hrefs)
    frame = page.frame_locator("iframe").first
    frame.locator("path.geo-boundary").first.wait_for(state="attached")
    overview = next(f for f in page.frames if f.url.endswith("/maps/heatmap"))
    overview.wait_for_function(
        "[...document.querySelectorAll('img.leaflet-tile-loaded')]"
        ".some(i => i.src.includes('/tiles/kde/') && i.naturalWidth === 256)"
    )
    page.wait_for_load_state("networkidle")
    _screenshot(page, "landing")
    watched.assert_clean()


def test_api_docs_work_offline(watched: Watched) -> None:
    watched.goto("/docs")
    page = watched.page
    page.wait_for_selector(".swagger-ui .information-container .title")
    assert "geo-service" in page.locator(".information-container .title").inner_text()
    page.wait_for_function("document.querySelectorAll('.opblock').length > 10")
    page.wait_for_load_state("networkidle")
    _screenshot(page, "docs")
    watched.assert_clean()


def test_planner_draws_risk_tiers_and_outlines_priority_areas(watched: Watched) -> None:
    watched.goto("/maps/planner")
    _wait_drawn(watched, "planner")
    page = watched.page
    page.wait_for_function("document.querySelectorAll('path.geo-priority').length > 0")
    fills = page.evaluate(
        "[...new Set([...document.querySelectorAll('path.geo-risk')].map(p => p.getAttribute('fill')))]"
    )
    assert set(fills) <= {"#d7191c", "#fd8d3c", "#ffffb2"} and "#d7191c" in fills
    outline = page.evaluate(
        "(() => { const p = document.querySelector('path.geo-priority');"
        " return [p.getAttribute('stroke'), p.getAttribute('fill-opacity')]; })()"
    )
    assert outline == ["#7a0177", "0"]
    assert watched.tiles_since(0, "priority-areas") and watched.tiles_since(0, "risk")
    _screenshot(page, "planner-areas")
    watched.assert_clean()


# ---------------------------------------------------------------- crowded point tiles

#: The tile cap of the second server: the sample's busy tiles at the start zoom are over it.
SMALL_CAP = 40


@pytest.fixture(scope="module")
def capped_server(
    built_sample_store: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """The service over the same store with GEO_TILE_MAX_POINTS = SMALL_CAP."""
    log_dir = tmp_path_factory.mktemp("capped_server")
    with serve_store(built_sample_store, log_dir, tile_max_points=str(SMALL_CAP)) as server:
        yield server


@pytest.fixture
def capped(browser: Any, capped_server: LiveServer) -> Iterator[Watched]:
    yield from _watch(browser, capped_server)


def _decoded_tile(watched: Watched, url: str) -> tuple[tuple[int, int, int], list[dict]]:
    import mapbox_vector_tile

    z, x, y = (int(v) for v in re.findall(r"/tiles/cases/(\d+)/(\d+)/(\d+)\.mvt", url)[0])
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {watched.key}"})
    with urllib.request.urlopen(request) as response:  # the live server only
        body = response.read()
    features = mapbox_vector_tile.decode(body)["cases"]["features"] if body else []
    return (z, x, y), features


def _sparse_tile(cases: Any, z: int) -> tuple[float, float, float, float]:
    """Bounds of a zoom-``z`` tile holding 1 … SMALL_CAP cases (the one holding most)."""
    import math

    from layers.tiles import tile_bounds_lonlat

    n = 2**z
    xs = ((cases["lon"] + 180) / 360 * n).astype(int)
    lat = cases["lat"].map(math.radians)
    ys = (1 - (lat.map(math.tan) + 1 / lat.map(math.cos)).map(math.log) / math.pi) / 2 * n
    per_tile = pd.Series(1, index=list(zip(xs, ys.astype(int), strict=True))).groupby(level=0).sum()
    x, y = per_tile[per_tile <= SMALL_CAP].idxmax()
    return tile_bounds_lonlat(z, int(x), int(y))


def test_crowded_case_tiles_draw_counted_circles_then_cases(
    capped: Watched, capped_server: LiveServer
) -> None:
    from geo_service.core.filters import Filters
    from geo_service.store.queries import read_records
    from layers.tiles import tile_bounds_lonlat

    capped.goto("/maps/clusters")
    _wait_drawn(capped, "clusters")
    page = capped.page
    page.wait_for_function("document.querySelectorAll('path.geo-case-aggregate').length > 0")
    _settle(page)
    cases = read_records(capped_server.engine, "cases", Filters())
    counts = set()
    aggregated_tiles = 0
    for url in capped.tiles_since(0, "cases"):  # what the page drew, read again with the key
        (z, x, y), features = _decoded_tile(capped, url)
        west, south, east, north = tile_bounds_lonlat(z, x, y)
        lon, lat = cases["lon"], cases["lat"]
        n = int(((lon >= west) & (lon < east) & (lat >= south) & (lat < north)).sum())
        if n > SMALL_CAP:
            assert features and all(f["properties"]["aggregated"] for f in features)
            assert sum(f["properties"]["count"] for f in features) == n
            counts |= {f["properties"]["count"] for f in features}
            aggregated_tiles += 1
        else:
            assert all("aggregated" not in f["properties"] for f in features)
    assert aggregated_tiles >= 1 and len(counts) > 1
    sizes = page.evaluate(
        "[...new Set([...document.querySelectorAll('path.geo-case-aggregate')]"
        ".map(p => Math.round(p.getBoundingClientRect().width)))]"
    )
    assert len(sizes) > 1  # circles sized by their count
    point = page.evaluate(
        """() => {
        for (const p of document.querySelectorAll('path.geo-case-aggregate')) {
          const r = p.getBoundingClientRect();
          const x = r.left + r.width / 2, y = r.top + r.height / 2;
          if (x > 330 && x < 1000 && y > 130 && y < 650 && document.elementFromPoint(x, y) === p)
            return [x, y];
        }
        return null;
    }"""
    )
    assert point, "no aggregated circle can be clicked"
    page.mouse.move(*point)  # hovering a small circle threw in VectorGrid 1.3: no more
    page.mouse.click(*point)
    page.wait_for_selector(".leaflet-popup-content .geo-popup")
    text = page.locator(".leaflet-popup-content").inner_text()
    assert "案件聚合点" in text
    shown = re.search(r"案件数 Cases\s+([\d,]+)", text).group(1)  # type: ignore[union-attr]
    assert int(shown.replace(",", "")) in counts
    _screenshot(page, "clusters-aggregated-cases")
    # zoomed in on a tile holding fewer cases than the cap: the cases themselves
    z = 14
    west, south, east, north = _sparse_tile(cases, z)
    inside = cases[
        (cases["lon"] >= west)
        & (cases["lon"] < east)
        & (cases["lat"] >= south)
        & (cases["lat"] < north)
    ]
    start = len(capped.requests)
    centre = [(south + north) / 2, (west + east) / 2, z]
    page.evaluate("([lat, lon, z]) => geoMap.map.setView([lat, lon], z)", centre)
    page.wait_for_function("document.querySelectorAll('path.geo-case').length > 0")
    _settle(page)
    zoomed = [u for u in capped.tiles_since(start, "cases") if f"/cases/{z}/" in u]
    drawn = set()
    for url in zoomed:
        _, features = _decoded_tile(capped, url)
        assert all("aggregated" not in f["properties"] for f in features)
        drawn |= {f["properties"]["case_id"] for f in features}
    assert set(inside["case_id"]) <= drawn
    _screenshot(page, "clusters-cases")
    # a case's pop-up links to its enterprise's file (一源一档), which opens for the account
    linked = read_records(capped_server.engine, "cases", Filters()).set_index("case_id")
    linked = linked.loc[sorted(drawn), "enterprise_credit_code"].dropna()
    assert len(linked), "no drawn case is linked to the register"
    page.evaluate(
        """([id, code]) => {
        const layer = geoMap.config.layers.find(l => l.link);
        geoMap.refs[layer.id].fire("click", {
          layer: {properties: {case_id: id, enterprise_credit_code: code}},
          latlng: geoMap.map.getCenter()});
    }""",
        [linked.index[0], linked.iloc[0]],
    )
    page.wait_for_selector(".leaflet-popup-content .geo-link a")
    href = page.get_attribute(".leaflet-popup-content .geo-link a", "href")
    assert href == f"/enterprises/{linked.iloc[0]}.html"
    assert page.locator(".leaflet-popup-content .geo-link a").inner_text() == "一源一档"
    answer = page.request.get(capped.base + href)
    assert answer.status == 200 and "企业基本信息" in answer.text()
    capped.assert_clean()


def test_anonymous_clusters_map_has_no_point_layer(browser: Any, capped_server: LiveServer) -> None:
    # bypass_csp: Playwright's wait_for_function evaluates its predicate with eval inside
    # the page, which the service's Content-Security-Policy forbids (no 'unsafe-eval')
    context = browser.new_context(
        viewport={"width": 1280, "height": 800}, locale="zh-CN", bypass_csp=True
    )
    page = context.new_page()
    requested: list[str] = []
    errors: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    page.on("response", lambda r: errors.append(r.url) if r.status >= 400 else None)
    response = page.goto(capped_server.url + "/maps/clusters")
    assert response is not None and response.status == 200
    page.wait_for_function("document.querySelectorAll('path.geo-cluster').length > 0")
    page.wait_for_load_state("networkidle")
    assert page.evaluate("geoMap.config.layers.map(l => l.id)") == ["clusters"]
    assert not [u for u in requested if "/tiles/cases/" in u] and errors == []
    context.close()
