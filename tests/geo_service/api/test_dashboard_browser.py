"""The leadership dashboard in headless Chromium against the real service, its
Content-Security-Policy enforced (no ``bypass_csp``: the page must work under it).

The charts' series are read from the ECharts instances and compared with the ledgers'
JSON read over HTTP as the same caller; the drill-down is done by a click on the map and
by the picker. Every request leaving the loopback is aborted and fails the test, as does
any policy violation, page error or unexpected failed response. Screenshots go to
``test-artifacts/dashboard/``.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from geo_service.core.paths import PROJECT_ROOT
from geo_service.store.boundaries import read_divisions
from tests.conftest import LiveServer, account_headers
from tests.geo_service.browser import LOCAL_HOSTS
from tests.geo_service.browser import chromium as launch_chromium

ARTIFACTS = PROJECT_ROOT / "test-artifacts" / "dashboard"
PROVINCE, CITY, COUNTY, OTHER_CITY = "450000", "450100", "450102", "450200"
#: Collects the page's policy violations before any of its scripts runs.
WATCH_CSP = """
window.__csp = [];
document.addEventListener('securitypolicyviolation',
  e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));
"""


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """One headless Chromium for the module (Debian's, never a downloaded one)."""
    yield from launch_chromium()


@dataclass
class Dashboard:
    """A page of the live server, what it asked for and what failed."""

    page: Any
    base: str
    key: str | None  # the account's API key (None: anonymous)
    external: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    failed: list[tuple[int, str]] = field(default_factory=list)  # (status, url)

    def ledger(self, kind: str, group_by: str, jurisdiction: str, period: str = "") -> Any:
        """The ledger's JSON as this caller reads it over HTTP."""
        query = f"group_by={group_by}&jurisdiction={jurisdiction}"
        query += f"&period={period}" if period else ""
        headers = {"Authorization": f"Bearer {self.key}"} if self.key else {}
        request = urllib.request.Request(f"{self.base}/stats/{kind}?{query}", headers=headers)
        with urllib.request.urlopen(request) as answer:  # the live server only
            return json.load(answer)

    def ready_at(self, adcode: str) -> None:
        self.page.wait_for_selector(f'body[data-state="ready"][data-jurisdiction="{adcode}"]')

    def series(self, chart: str) -> list[Any]:
        return list(
            self.page.evaluate(
                "(id) => echarts.getInstanceByDom(document.getElementById('chart-' + id))"
                ".getOption().series.map(s => s.data)",
                chart,
            )
        )

    def kpis(self) -> dict[str, str]:
        return dict(
            self.page.evaluate(
                "Object.fromEntries([...document.querySelectorAll('.dash-kpi')]"
                ".map(k => [k.dataset.kpi, k.dataset.value]))"
            )
        )

    def click_division(self, lon: float, lat: float) -> None:
        self.page.mouse.click(
            *self.page.evaluate("([x, y]) => geoDashboard.pixelOf(x, y)", [lon, lat])
        )

    def assert_clean(self, refused: tuple[int, ...] = ()) -> None:
        assert self.external == [], f"the page tried to reach outside: {self.external}"
        assert self.errors == [], f"errors in the page: {self.errors}"
        assert self.page.evaluate("window.__csp") == [], "the policy blocked something"
        unexpected = [f for f in self.failed if f[0] not in refused or "/stats/" not in f[1]]
        assert unexpected == [], unexpected


def _open(chromium: Any, live_server: LiveServer, key: str | None) -> Iterator[Dashboard]:
    context = chromium.new_context(viewport={"width": 1400, "height": 1000}, locale="zh-CN")
    context.add_init_script(WATCH_CSP)
    page = context.new_page()
    seen = Dashboard(page, live_server.url, key)

    def route(request_route: Any) -> None:
        url = request_route.request.url
        if urlsplit(url).hostname in LOCAL_HOSTS:
            request_route.continue_()
        else:
            seen.external.append(url)
            request_route.abort()

    context.route("**/*", route)
    if key is not None:  # log in as a person would: the form posts the key, a cookie comes
        page.goto(f"{live_server.url}/login?next=/dashboard")
        page.fill("input[name=api_key]", key)
        with page.expect_navigation():
            page.click("button[type=submit]")
        assert urlsplit(page.url).path == "/dashboard"
    page.on(
        "response", lambda r: seen.failed.append((r.status, r.url)) if r.status >= 400 else None
    )
    page.on(
        "console",
        lambda m: (
            seen.errors.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource")  # in failed
            else None
        ),
    )
    page.on("pageerror", lambda e: seen.errors.append(f"page error: {e}"))
    yield seen
    context.close()


@pytest.fixture
def admin(chromium: Any, live_server: LiveServer) -> Iterator[Dashboard]:
    yield from _open(chromium, live_server, live_server.api_key)


@pytest.fixture
def anonymous(chromium: Any, live_server: LiveServer) -> Iterator[Dashboard]:
    yield from _open(chromium, live_server, None)


@pytest.fixture
def county_leader(chromium: Any, live_server: LiveServer) -> Iterator[Dashboard]:
    """A leader of one county (兴宁区), logged in."""
    key = account_headers(live_server.engine, "leader", COUNTY)["Authorization"].split()[1]
    yield from _open(chromium, live_server, key)


def _screenshot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _rep_point(live_server: LiveServer, adcode: str) -> tuple[float, float]:
    row = read_divisions(live_server.engine).table.loc[adcode]
    return float(row["rep_lon"]), float(row["rep_lat"])


def _assert_shows_the_ledgers(dash: Dashboard, adcode: str) -> str:
    """The KPIs, the monthly, industry and problem-type series and the map hold the
    ledgers' numbers for ``adcode`` in the year shown; returns the year."""
    page = dash.page
    year = page.evaluate("geoDashboard.state.year")
    assert year and parse_qs(urlsplit(page.url).query) == {
        "jurisdiction": [adcode],
        "period": [year],
    }
    # KPIs: the year's row of the year ledgers, and the trend against the year before
    case_years = {r["year"]: r for r in dash.ledger("cases", "year", adcode)["rows"]}
    inspection_years = {r["year"]: r for r in dash.ledger("inspections", "year", adcode)["rows"]}
    now = {**case_years.get(year, {}), **inspection_years.get(year, {})}
    shown = dash.kpis()
    assert now["cases"] and float(shown["cases"]) == now["cases"]
    for key in ("inspections", "problems_found", "penalty_sum", "execution_rate", "problem_rate"):
        if now.get(key) is None:  # the public view withholds sums and rates
            assert shown[key] == ("" if dash.key is None else "0"), key
        else:
            assert float(shown[key]) == now[key], key
    before = case_years.get(str(int(year) - 1))
    if before and before["cases"]:
        trend = page.get_attribute('.dash-kpi[data-kpi="cases"]', "data-trend")
        expected = (now["cases"] - before["cases"]) / before["cases"] * 100
        assert trend is not None and float(trend) == pytest.approx(expected, abs=1e-4)
    # by month: every month of the year, zero where the ledger has no row
    months = [f"{year}-{m:02d}" for m in range(1, 13)]
    cases = {r["month"]: r["cases"] for r in dash.ledger("cases", "month", adcode, year)["rows"]}
    inspections = dash.ledger("inspections", "month", adcode, year)["rows"]
    by_month = {r["month"]: r for r in inspections}
    monthly = dash.series("month")
    assert monthly[0] == [cases.get(m, 0) for m in months]
    assert monthly[1] == [by_month.get(m, {}).get("inspections", 0) for m in months]
    assert monthly[2] == [by_month.get(m, {}).get("problems_found", 0) for m in months]
    assert sum(monthly[0]) > 0
    # by industry: the ten with most cases, each with its ledger's count
    industries = dash.ledger("cases", "industry", adcode, year)["rows"]
    counts = sorted((r["cases"] for r in industries if r["cases"]), reverse=True)[:10]
    (bars,) = dash.series("industry")
    assert sorted(bars, reverse=True) == counts
    labels = page.evaluate(
        "echarts.getInstanceByDom(document.getElementById('chart-industry'))"
        ".getOption().yAxis[0].data"
    )
    by_label = {_industry_label(r): r["cases"] for r in industries}
    assert [by_label[label] for label in labels] == bars
    # by problem type: every type with cases, as many as the ledger counts
    problems = dash.ledger("cases", "problem_type", adcode, year)["rows"]
    (pie,) = dash.series("problem")
    expected_types = {r["problem_type"] or "未分类": r["cases"] for r in problems if r["cases"]}
    assert {p["name"]: p["value"] for p in pie} == expected_types and expected_types
    return str(year)


def _industry_label(row: dict[str, Any]) -> str:
    if row["industry_name"]:
        return f"{row['industry_name']} {row['industry']}"
    return str(row["industry"] or "未注明")


def _assert_map_holds(dash: Dashboard, adcode: str, group: str, year: str) -> None:
    """The map's divisions carry the ledger's cases by ``group`` (city or county)."""
    rows = dash.ledger("cases", group, adcode, year)["rows"]
    (places,) = dash.series("map")
    shown = {p["name"]: p["value"] for p in places}
    assert {r[group]: r["cases"] for r in rows if r["cases"] and r[group]} == {
        name: value for name, value in shown.items() if value
    }
    # the records placed at this level only are said beside the map
    unplaced = sum(r["cases"] for r in rows if not r[group])
    note = dash.page.evaluate(
        "echarts.getInstanceByDom(document.getElementById('chart-map')).getOption().title[0].text"
    )
    assert (f"另有 {unplaced} 件" in note) if unplaced else note == ""


def test_an_account_drills_from_province_to_city_to_county(
    admin: Dashboard, live_server: LiveServer
) -> None:
    page = admin.page
    admin.ready_at(PROVINCE)
    year = _assert_shows_the_ledgers(admin, PROVINCE)
    _assert_map_holds(admin, PROVINCE, "city", year)
    assert admin.kpis()["penalty_sum"]  # an account sees the sums
    _screenshot(page, "province")
    # a click on the city on the map
    admin.click_division(*_rep_point(live_server, CITY))
    admin.ready_at(CITY)
    assert _assert_shows_the_ledgers(admin, CITY) == year
    _assert_map_holds(admin, CITY, "county", year)
    assert page.inner_text(".dash-crumbs").split(" › ") == ["广西壮族自治区", "南宁市"]
    _screenshot(page, "city")
    # the picker to one of its counties
    page.select_option("select.dash-child", COUNTY)
    admin.ready_at(COUNTY)
    _assert_shows_the_ledgers(admin, COUNTY)
    _assert_map_holds(admin, COUNTY, "county", year)
    _screenshot(page, "county")
    # and back up by the breadcrumb
    page.click(f'.dash-crumbs a[data-adcode="{PROVINCE}"]')
    admin.ready_at(PROVINCE)
    assert page.locator(".dash-notice").count() == 0
    admin.assert_clean()


def test_another_year_redraws_with_that_year(admin: Dashboard) -> None:
    page = admin.page
    admin.ready_at(PROVINCE)
    years = page.eval_on_selector_all("select.dash-year option", "os => os.map(o => o.value)")
    earlier = years[0]
    assert earlier != page.evaluate("geoDashboard.state.year")
    page.select_option("select.dash-year", earlier)
    page.wait_for_selector(f'body[data-state="ready"][data-period="{earlier}"]')
    assert _assert_shows_the_ledgers(admin, PROVINCE) == earlier
    admin.assert_clean()


def test_anonymous_sees_the_province_and_a_sign_in_prompt_below(
    anonymous: Dashboard, live_server: LiveServer
) -> None:
    page = anonymous.page
    response = page.goto(f"{live_server.url}/dashboard")
    assert response is not None and response.status == 200
    anonymous.ready_at(PROVINCE)
    _assert_shows_the_ledgers(anonymous, PROVINCE)  # the public view's perturbed counts
    assert page.inner_text('.dash-kpi[data-kpi="penalty_sum"] .dash-kpi-value') == "登录后可见"
    (places,) = anonymous.series("map")
    assert places and all(p["value"] is None for p in places)  # no figures by city
    # a click on a city: the sign-in prompt, in Chinese, and the province stays
    anonymous.click_division(*_rep_point(live_server, CITY))
    page.wait_for_selector(".dash-signin")
    prompt = page.inner_text(".dash-signin")
    assert "南宁市" in prompt and "需要登录" in prompt
    assert page.evaluate("geoDashboard.state.jurisdiction") == PROVINCE
    assert (
        anonymous.series("month")[0] and page.locator(".dash-kpi-value").first.inner_text() != "—"
    )
    refused = [u for s, u in anonymous.failed if s == 401]
    assert refused and all(parse_qs(urlsplit(u).query)["jurisdiction"] == [CITY] for u in refused)
    _screenshot(page, "anonymous-sign-in")
    # the prompt's link signs in and comes back to the city
    href = page.get_attribute(".dash-signin a.dash-signin-link", "href")
    assert href is not None and urlsplit(href).path == "/login"
    page.click(".dash-signin a.dash-signin-link")
    page.fill("input[name=api_key]", live_server.api_key)
    with page.expect_navigation():
        page.click("button[type=submit]")
    anonymous.ready_at(CITY)
    anonymous.key = live_server.api_key
    _assert_shows_the_ledgers(anonymous, CITY)
    anonymous.assert_clean(refused=(401,))


def test_anonymous_opening_a_city_gets_the_prompt_over_the_province(
    anonymous: Dashboard, live_server: LiveServer
) -> None:
    page = anonymous.page
    page.goto(f"{live_server.url}/dashboard?jurisdiction={CITY}")
    page.wait_for_selector(".dash-signin")
    anonymous.ready_at(PROVINCE)
    assert page.locator(".dash-signin").count() == 1  # kept over the province's figures
    anonymous.assert_clean(refused=(401,))


def test_a_county_account_is_refused_above_its_county(
    county_leader: Dashboard, live_server: LiveServer
) -> None:
    dash = county_leader
    page = dash.page
    dash.ready_at(COUNTY)
    year = _assert_shows_the_ledgers(dash, COUNTY)
    _assert_map_holds(dash, COUNTY, "county", year)
    assert page.locator("select.dash-child").is_disabled()  # nothing below a county
    page.click(f'.dash-crumbs a[data-adcode="{CITY}"]')
    page.wait_for_selector(".dash-refused")
    assert "无权查看南宁市" in page.inner_text(".dash-refused")
    assert page.evaluate("geoDashboard.state.jurisdiction") == COUNTY
    refused = [u for s, u in dash.failed if s == 403]
    assert refused and all(parse_qs(urlsplit(u).query)["jurisdiction"] == [CITY] for u in refused)
    _screenshot(page, "county-refused")
    # asked for another city outright: refused, the own county shown under the notice
    page.goto(f"{live_server.url}/dashboard?jurisdiction={OTHER_CITY}")
    page.wait_for_selector(".dash-refused")
    dash.ready_at(COUNTY)
    dash.assert_clean(refused=(403,))
    assert page.locator(".dash-refused").count() == 1  # kept over the county's figures
    with pytest.raises(urllib.error.HTTPError) as refusal:  # as the ledger itself refuses
        dash.ledger("cases", "year", OTHER_CITY)
    assert refusal.value.code == 403
