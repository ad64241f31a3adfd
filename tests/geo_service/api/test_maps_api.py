"""Map pages, the cell profile, the HTML landing page and /docs over the built sample store."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from urllib.parse import urlsplit

import h3
import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from analytics.cells import points_to_cells
from geo_service.api.app import create_app
from geo_service.builds.exports import load_layer
from geo_service.core.filters import FILTER_NAMES, Filters
from geo_service.core.paths import STATIC_DIR
from geo_service.core.settings import Settings
from geo_service.store.queries import read_frame
from layers.maps import MAPS
from layers.offline import external_references, local_references
from tests.conftest import account_headers

MAX_PAGE_BYTES = 2_000_000


@pytest.fixture(scope="module")
def client(built_sample_store: Engine) -> Iterator[TestClient]:
    url = built_sample_store.url.render_as_string(hide_password=False)
    app = create_app(Settings(database_url=url))
    with TestClient(app, headers=account_headers(built_sample_store)) as test_client:
        yield test_client


def _config(html: str) -> dict:
    match = re.search(r"GeoMaps\.init\(\w+, (\{.*?\}), \{ ", html, re.S)
    assert match, "the page hands no configuration to geo-maps.js"
    return json.loads(match.group(1))


def _months(engine: Engine) -> list[str]:
    dates = read_frame(engine, "cases", None, ["decision_date"])["decision_date"].astype(str)
    return [str(m) for m in np.unique(dates.str[:7])]


@pytest.mark.parametrize("name", list(MAPS))
def test_map_page_is_small_offline_html(
    client: TestClient, built_sample_store: Engine, name: str
) -> None:
    response = client.get(f"/maps/{name}")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    html = response.text
    assert len(response.content) < MAX_PAGE_BYTES
    assert external_references(html) == []
    assets = local_references(html)
    assert assets and all(a.startswith("/static/") for a in assets)
    for asset in assets:
        assert client.get(asset).status_code == 200, asset
    assert MAPS[name].title in html
    config = _config(html)
    cities = read_frame(built_sample_store, "cases", None, ["city_adcode"])["city_adcode"]
    picker = {j["adcode"] for j in config["jurisdictions"] if j["level"] == "city"}
    assert set(cities.dropna()) <= picker  # every city with cases can be picked
    assert config["industries"] and config["time"]["steps"]
    months = _months(built_sample_store)
    first_step = months[0] if name != "emerging" else months[3]
    assert (
        config["time"]["steps"][0][0] == first_step
        and config["time"]["steps"][-1][0] == (months[-1])
    )


def test_pages_inline_no_records(client: TestClient, built_sample_store: Engine) -> None:
    """Layers come as tiles: no case, cell or boundary of the store is written into a page."""
    case_ids = read_frame(built_sample_store, "cases", None, ["case_id"])["case_id"].head(50)
    hexagons, _ = load_layer(built_sample_store, "hexagons", Filters(), {"resolution": 7})
    for name in MAPS:
        html = client.get(f"/maps/{name}").text
        assert not any(case_id in html for case_id in case_ids)
        assert not any(cell in html for cell in hexagons["h3"].head(50))
        assert '"coordinates"' not in html and "FeatureCollection" not in html


def test_pages_start_from_the_query_filters(client: TestClient) -> None:
    html = client.get("/maps/hexagons?jurisdiction=450100&period=2024-Q2").text
    config = _config(html)
    assert config["filters"] == {"jurisdiction": "450100", "period": "2024-Q2"}
    # the page builds its tile URLs with the service's one list of filters
    assert config["filter_names"] == list(FILTER_NAMES)
    assert "violation_type" not in (STATIC_DIR / "maps" / "geo-maps.js").read_text("utf-8")
    assert re.search(
        r"/tiles/hexagons/\{z\}/\{x\}/\{y\}\.mvt\?resolution=\d+"
        r"&jurisdiction=450100&period=2024-Q2'",
        html,
    )


@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("/maps/pie-chart", 404),
        ("/maps/hexagons?period=2024-13", 400),
        ("/maps/cell/not-a-cell", 400),
        (f"/maps/cell/{h3.latlng_to_cell(22.8, 108.3, 12)}", 400),  # finer than the layers
        (f"/maps/cell/{h3.latlng_to_cell(22.8, 108.3, 7)}?jurisdiction=45", 400),
    ],
)
def test_bad_requests_get_json_reasons(client: TestClient, url: str, status: int) -> None:
    response = client.get(url)
    assert response.status_code == status and response.json()["description"]


def test_cell_profile_matches_the_hexagon_layer(
    client: TestClient, built_sample_store: Engine
) -> None:
    layer, _ = load_layer(built_sample_store, "hexagons", Filters(), {"resolution": 7})
    busiest = layer.sort_values(["cases", "h3"], ascending=[False, True]).head(3)
    for row in busiest.itertuples():
        body = client.get(f"/maps/cell/{row.h3}").json()
        assert body["cases"] == row.cases > 0 and body["inspections"] == row.inspections
        assert body["problems_found"] == row.problems_found
        assert body["penalty_sum"] == pytest.approx(row.penalty_sum)
        assert sum(n for _, n in body["top_enterprises"]) <= body["cases"]


def test_cell_profile_with_filters_matches_the_store(
    client: TestClient, built_sample_store: Engine
) -> None:
    filters = Filters(period="2024")
    columns = ["lon", "lat", "penalty_amount", "enterprise_name", "problem_type_label"]
    cases = read_frame(built_sample_store, "cases", filters, columns)
    cells = points_to_cells(cases["lon"], cases["lat"], 6)
    values, counts = np.unique(cells, return_counts=True)
    cell = int(values[np.argmax(counts)])
    mine = cases[cells == cell]
    body = client.get(f"/maps/cell/{h3.int_to_str(cell)}?period=2024").json()
    assert body["cases"] == len(mine) == counts.max()
    assert body["penalty_sum"] == pytest.approx(mine["penalty_amount"].fillna(0).sum())
    names = mine["enterprise_name"].value_counts()
    assert body["top_enterprises"][0][1] == names.max()
    assert body["top_enterprises"][0][0] in set(names[names == names.max()].index)
    whole = client.get(f"/maps/cell/{h3.int_to_str(cell)}").json()
    assert whole["cases"] >= body["cases"]


def test_landing_page_links_every_map_layer_download_and_the_docs(client: TestClient) -> None:
    response = client.get("/", headers={"Accept": "text/html"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    html = response.text
    assert "生态环境执法地图" in html and "Environmental enforcement" in html
    links = sorted(set(re.findall(r'(?:href|src)="([^"]+)"', html)))
    paths = {urlsplit(link).path for link in links}
    assert {f"/maps/{name}" for name in MAPS} <= paths
    assert {"/collections/cases/items", "/collections/hexagons/items", "/docs"} <= paths
    assert {"/downloads/cases.gpkg", "/downloads/kde.tif", "/downloads/project.qgs"} <= paths
    assert {"/stats/cases", "/stats/inspections.xlsx"} <= paths
    for link in links:
        parts = urlsplit(link)
        assert parts.hostname in (None, "testserver"), link  # the service's own pages only
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        status = client.get(target).status_code
        assert status < 400, f"{link} answered {status}"


def test_landing_stays_json_for_programs(client: TestClient) -> None:
    body = client.get("/", headers={"Accept": "application/json"}).json()
    assert {link["rel"] for link in body["links"]} >= {"service-doc", "data"}


def test_docs_work_offline(client: TestClient) -> None:
    response = client.get("/docs")
    assert response.status_code == 200
    html = response.text
    assert external_references(html) == []
    assets = local_references(html)
    assert any(a.endswith("swagger-ui-bundle.js") for a in assets)
    for asset in assets:
        assert client.get(asset).status_code == 200, asset
    assert '"validatorUrl": null' in html and "/openapi.json" in html
    assert "/docs" not in client.get("/openapi.json").json()["paths"]


def test_vendored_assets_match_their_recorded_sums() -> None:
    vendor = STATIC_DIR / "vendor"
    listed = {}
    for line in (vendor / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split(maxsplit=1)
        listed[name] = digest
    assert {
        "leaflet/leaflet.js",
        "leaflet.vectorgrid/Leaflet.VectorGrid.bundled.min.js",
        "swagger-ui-dist/swagger-ui-bundle.js",
    } <= set(listed)
    for name, digest in listed.items():
        assert hashlib.sha256((vendor / name).read_bytes()).hexdigest() == digest, name
    shipped = {p.relative_to(vendor).as_posix() for p in vendor.rglob("*") if p.is_file()}
    assert shipped - set(listed) == {"SHA256SUMS", "README.md"}  # nothing unrecorded
    assert not [p for p in STATIC_DIR.rglob("*.map")]  # no source maps


def test_maps_of_a_store_without_records(sqlite_only_store: Engine) -> None:
    """A fresh store (divisions, no records): pages still work, with nothing to play."""
    url = sqlite_only_store.url.render_as_string(hide_password=False)
    client = TestClient(
        create_app(Settings(database_url=url)), headers=account_headers(sqlite_only_store)
    )
    for name in MAPS:
        response = client.get(f"/maps/{name}")
        assert response.status_code == 200
        config = _config(response.text)
        assert config["time"] is None and config["periods"] == []
        assert len([j for j in config["jurisdictions"] if j["level"] == "city"]) == 14
    cell = h3.latlng_to_cell(22.8, 108.3, 8)
    assert client.get(f"/maps/cell/{cell}").json()["cases"] == 0


def test_anonymous_pages_ask_only_what_the_public_view_answers(
    built_sample_store: Engine,
) -> None:
    """A visitor without an account gets pages whose every tile request is within the
    public lattice: one resolution, whole periods (no month slider of end dates), and
    no planner's map (risk needs an account)."""
    url = built_sample_store.url.render_as_string(hide_password=False)
    anonymous = TestClient(create_app(Settings(database_url=url)))
    hexagons = _config(anonymous.get("/maps/hexagons").text)
    assert hexagons["resolution"]["choices"] == [6] and hexagons["resolution"]["value"] == 6
    assert hexagons["layers"][0]["params"]["resolution"] == 6
    assert _config(anonymous.get("/maps/hotspots").text)["resolution"]["choices"] == [6]
    emerging = _config(anonymous.get("/maps/emerging").text)
    assert emerging["time"] is None and emerging["periods"]  # periods, not free end dates
    assert anonymous.get("/maps/planner").status_code == 401
    tile = anonymous.get("/tiles/hexagons/7/102/55.mvt?resolution=6")
    assert tile.status_code in (200, 204)
    admin = TestClient(anonymous.app, headers=account_headers(built_sample_store))
    assert _config(admin.get("/maps/hexagons").text)["resolution"]["value"] == "auto"
    assert _config(admin.get("/maps/emerging").text)["time"]["param"] == "end"
