"""The field page on a phone-sized headless Chromium against the real service.

An inspector logs in, opens ``/field`` (its draw's enterprise on the map), goes offline,
records a finding: it waits in the visible queue; back online it is sent and is an item
of the service. A finding recorded outside the inspector's county is refused and stays
in the queue with the server's reason, also after the page is opened again. Uvicorn
serves a copy of the built sample store (findings change it); geolocation is granted
and set by the test. Screenshots go to ``test-artifacts/field/``.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import Engine

from geo_service.access.policy import add_account
from geo_service.core.clock import china_now
from geo_service.core.filters import Filters
from geo_service.core.paths import PROJECT_ROOT
from geo_service.planning.assignments import current_quarter
from geo_service.store.boundaries import read_divisions
from geo_service.store.draws import save_draw
from geo_service.store.queries import read_frame
from tests.conftest import LiveServer, serve_store
from tests.geo_service.browser import LOCAL_HOSTS
from tests.geo_service.browser import chromium as launch_chromium
from tests.geo_service.draw_store import copy_store

COUNTY, NEIGHBOUR = "450102", "450103"
PHONE = {"width": 390, "height": 844}
ARTIFACTS = PROJECT_ROOT / "test-artifacts" / "field"


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """Debian's Chromium, headless (never a downloaded one)."""
    yield from launch_chromium()


@pytest.fixture(scope="module")
def field_server(
    built_sample_store: Engine, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LiveServer, str, str, dict[str, Any]]]:
    """The service over a copy of the store with an inspector of the county and this
    quarter's draw sending that inspector to two of the county's enterprises."""
    folder = tmp_path_factory.mktemp("field_browser")
    engine = copy_store(built_sample_store, folder / "store")
    name = f"field-{uuid.uuid4().hex[:8]}"
    key = add_account(engine, name, "inspector", COUNTY)
    register = read_frame(
        engine, "enterprises", Filters(jurisdiction=COUNTY), ["credit_code", "name", "lon", "lat"]
    ).dropna()
    chosen = register.head(2)
    record = {
        "format": "geo-service-draw/1",
        "parameters": {"jurisdiction": COUNTY, "quarter": current_quarter()},
        "selected": [
            {
                "credit_code": str(code),
                "name": str(title),
                "inspectors": [name, "HJ000002"],
                "inspector_names": ["测试员", "乙"],
                "reasons": ["repeat_offending"],
                "stratum": "key",
            }
            for code, title in zip(chosen.credit_code, chosen.name, strict=True)
        ],
    }
    save_draw(
        engine,
        jurisdiction=COUNTY,
        quarter=current_quarter(),
        record_json=json.dumps(record, ensure_ascii=False, sort_keys=True),
        data_version=0,
        created_by="test",
    )
    table = read_divisions(engine).table
    points = {c: table.loc[c].geometry.representative_point() for c in (COUNTY, NEIGHBOUR)}
    with serve_store(engine, folder) as server:
        yield server, key, name, points


def _get(server: LiveServer, key: str, path: str) -> tuple[int, Any]:
    request = urllib.request.Request(server.url + path, headers={"Authorization": f"Bearer {key}"})
    try:
        with urllib.request.urlopen(request) as response:  # the live server only
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, None


def _record(page: Any, category: str, description: str) -> None:
    page.fill("input[name=problem_category]", category)
    page.check("input[name=problem_found][value='是']")
    page.fill("textarea[name=description]", description)
    page.fill("textarea[name=measures]", "责令限期整改")
    page.click("#field-form button[type=submit]")


def test_a_finding_waits_offline_is_sent_online_and_a_refused_one_stays(
    chromium: Any, field_server: tuple[LiveServer, str, str, dict[str, Any]]
) -> None:
    server, key, _name, points = field_server
    inside, outside = points[COUNTY], points[NEIGHBOUR]
    context = chromium.new_context(
        viewport=PHONE,
        is_mobile=True,
        has_touch=True,
        locale="zh-CN",
        timezone_id="Asia/Shanghai",
        permissions=["geolocation"],
        geolocation={"latitude": inside.y, "longitude": inside.x, "accuracy": 10},
    )
    external: list[str] = []
    errors: list[str] = []

    def route(request_route: Any) -> None:
        if urlsplit(request_route.request.url).hostname in LOCAL_HOSTS:
            request_route.continue_()
        else:
            external.append(request_route.request.url)
            request_route.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{server.url}/login?next=/field")
    page.fill("input[name=api_key]", key)
    with page.expect_navigation():
        page.click("button[type=submit]")
    assert urlsplit(page.url).path == "/field"
    # the draw's enterprises, the map and the position
    mine = page.locator("#field-enterprises li[data-mine=true]")
    mine.first.wait_for()
    assert mine.count() == 2
    assert page.locator("#field-enterprises a[href^='/enterprises/']").count() == 2
    assert page.locator("path.field-enterprise").count() == 2
    page.locator("#field-position[data-state=located]").wait_for()
    assert f"{inside.x:.6f}" in page.locator("#field-position").inner_text()
    assert page.evaluate("navigator.serviceWorker.ready.then(r => r.active.scriptURL)").endswith(
        "/field/sw.js"
    )

    # no signal: the finding waits in the queue, and the service has not got it
    context.set_offline(True)
    page.locator("#field-signal[data-online=false]").wait_for()
    recorded = [china_now()]
    _record(page, "废水", "雨水排口有污水排出")
    waiting = page.locator("#field-queue li[data-state=waiting]")
    waiting.wait_for()
    recorded.append(china_now())
    assert "等待发送" in waiting.inner_text()
    # when it was recorded, by the phone's clock (Beijing), not in UTC
    shown = waiting.locator(".field-meta").first.inner_text()
    assert any(f"{moment:%Y-%m-%d %H:%M}" in shown for moment in recorded), shown
    first = waiting.get_attribute("data-id")
    assert first and first.startswith("FIELD-")
    assert _get(server, key, f"/collections/inspections/items/{first}")[0] == 404
    page.screenshot(path=str(_artifact("offline-waiting.png")), full_page=True)

    # signal again: sent, and an item of the service, placed where the phone was
    context.set_offline(False)
    page.locator(f"#field-queue li[data-id='{first}'][data-state=sent]").wait_for()
    status, item = _get(server, key, f"/collections/inspections/items/{first}")
    assert status == 200
    assert item["properties"]["adcode"] == COUNTY
    assert item["properties"]["description"] == "雨水排口有污水排出"
    assert item["geometry"]["coordinates"] == pytest.approx([inside.x, inside.y])
    status, items = _get(server, key, "/collections/inspections/items?limit=10000")
    assert first in {f["id"] for f in items["features"]}

    # recorded in the neighbouring county: refused, kept, with the server's reason
    context.set_geolocation({"latitude": outside.y, "longitude": outside.x, "accuracy": 10})
    _record(page, "废气", "无组织排放")
    refused = page.locator("#field-queue li[data-state=refused]")
    refused.wait_for()
    second = refused.get_attribute("data-id")
    reason = refused.locator(".field-reason").inner_text()
    assert "辖区" in reason and "[403]" in reason, reason
    assert _get(server, key, f"/collections/inspections/items/{second}")[0] == 404
    page.screenshot(path=str(_artifact("refused-kept.png")), full_page=True)

    # opened again: the queue is still there, the refused finding with its reason
    page.reload()
    kept = page.locator(f"#field-queue li[data-id='{second}'][data-state=refused]")
    kept.wait_for()
    assert "辖区" in kept.locator(".field-reason").inner_text()
    assert page.locator(f"#field-queue li[data-id='{first}'][data-state=sent]").count() == 1
    assert external == [], f"the page tried to reach outside: {external}"
    assert errors == [], f"errors in the page: {errors}"
    context.close()


def _artifact(name: str) -> Any:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / name
