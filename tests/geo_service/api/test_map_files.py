"""Map files (``/maps/{name}/file``) over the built sample store: one HTML file holding its
data, scoped as the page is, within its size bound, and audited when it holds records."""

from __future__ import annotations

import base64
import io
import json
import re
from collections.abc import Iterator
from typing import Any

import h3
import pytest
from fastapi.testclient import TestClient
from fontTools.ttLib import TTFont
from sqlalchemy import Engine

from geo_service.api.app import create_app
from geo_service.builds.exports import load_layer
from geo_service.core.filters import Filters
from geo_service.core.settings import Settings
from geo_service.disclosure.lattice import PUBLIC_RESOLUTION
from geo_service.store.queries import read_frame
from layers.map_files import file_references
from layers.maps import MAPS
from tests.conftest import account_headers

#: The bound a map file of the sample keeps to (the issue asks for ≤ 5 MB).
MAX_FILE_BYTES = 5_000_000
COUNTY, NEIGHBOUR, CITY = "450102", "450103", "450100"
BUNDLED_FONT_BYTES = 2_503_180


@pytest.fixture(scope="module")
def app(built_sample_store: Engine) -> Any:
    url = built_sample_store.url.render_as_string(hide_password=False)
    return create_app(
        Settings(database_url=url, rate_limit_per_minute=0, tile_rate_limit_per_minute=0)
    )


@pytest.fixture(scope="module")
def admin(app: Any, built_sample_store: Engine) -> Iterator[TestClient]:
    with TestClient(app, headers=account_headers(built_sample_store)) as client:
        yield client


@pytest.fixture(scope="module")
def county(app: Any, built_sample_store: Engine) -> TestClient:
    return TestClient(app, headers=account_headers(built_sample_store, "gis", COUNTY))


@pytest.fixture(scope="module")
def anonymous(app: Any) -> TestClient:
    return TestClient(app)


def config_of(html: str) -> dict[str, Any]:
    match = re.search(r"GeoMaps\.init\(\w+, (\{.*?\}), \{ ", html, re.S)
    assert match, "the file hands no configuration to geo-maps.js"
    return dict(json.loads(match.group(1)))


def inline_layers(html: str) -> list[dict[str, Any]]:
    """The GeoJSON handed to ``GeoMaps.geojson`` in the file, in order (the map's layers,
    then the boundaries)."""
    decoder = json.JSONDecoder()
    found = []
    for match in re.finditer(r"GeoMaps\.geojson\(", html):
        try:
            doc, _ = decoder.raw_decode(html, match.end())
        except json.JSONDecodeError:
            continue  # the name in geo-maps.js's own comment
        found.append(doc)
    return found


def by_layer(html: str) -> dict[str, dict[str, Any]]:
    config = config_of(html)
    vectors = [layer["id"] for layer in config["layers"] if layer["path"].endswith(".mvt")]
    collections = inline_layers(html)
    assert len(collections) == len(vectors) + 1, "a collection per vector layer and the outlines"
    return {**dict(zip(vectors, collections, strict=False)), "jurisdictions": collections[-1]}


@pytest.mark.parametrize("name", list(MAPS))
def test_a_map_file_is_one_self_contained_attachment(admin: TestClient, name: str) -> None:
    answer = admin.get(f"/maps/{name}/file")
    assert answer.status_code == 200, answer.text[:300]
    assert answer.headers["content-type"].startswith("text/html")
    disposition = answer.headers["content-disposition"]
    assert disposition.startswith("attachment;") and f'filename="{name}' in disposition
    assert disposition.split('filename="')[1].split('"')[0].endswith(".html")
    assert len(answer.content) <= MAX_FILE_BYTES, len(answer.content)
    html = answer.text
    assert file_references(html) == []  # no script, style, image or font from elsewhere
    assert "/static/" not in html and "/tiles/" not in re.sub(r'"path": "[^"]*"', "", html)
    config = config_of(html)
    assert config["file"]["note"].startswith("地图文件") and config["time"] is None
    assert config["file_path"] is None and config["home"] == ""
    # one scale bar, metric only: geo-maps.js's (Folium's own, in miles too, is off)
    assert html.count("L.control.scale(") == 1 and "L.control.scale({ imperial: false })" in html
    if name == "heatmap":
        assert 'L.imageOverlay("data:image/png;base64,' in html
        assert config["legend"]["doc"]["classes"]
    else:
        layers = by_layer(html)
        drawn = config["layers"][0]["id"]
        assert layers[drawn]["features"], f"{name}: nothing to draw"
        assert layers["jurisdictions"]["features"]


def test_a_file_holds_the_layer_for_its_filters(
    admin: TestClient, built_sample_store: Engine
) -> None:
    filters = Filters(jurisdiction=CITY, period="2024")
    answer = admin.get(f"/maps/hexagons/file?jurisdiction={CITY}&period=2024&resolution=7")
    assert answer.status_code == 200
    assert 'filename="hexagons-450100-2024.html"' in answer.headers["content-disposition"]
    hexagons = by_layer(answer.text)["hexagons"]["features"]
    expected, _ = load_layer(built_sample_store, "hexagons", filters, {"resolution": 7})
    assert {f["properties"]["h3"] for f in hexagons} == set(expected["h3"].astype(str))
    shown = {f["properties"]["h3"]: f["properties"]["cases"] for f in hexagons}
    assert shown == dict(zip(expected["h3"].astype(str), expected["cases"], strict=True))
    assert all(h3.get_resolution(cell) == 7 for cell in shown)
    config = config_of(answer.text)
    assert config["filters"] == {"jurisdiction": CITY, "period": "2024"}
    assert config["resolution"]["value"] == 7


def test_a_county_accounts_file_holds_its_county_only(
    county: TestClient, built_sample_store: Engine
) -> None:
    answer = county.get("/maps/clusters/file")
    assert answer.status_code == 200
    layers = by_layer(answer.text)
    own = read_frame(built_sample_store, "cases", Filters(jurisdiction=COUNTY), ["case_id"])
    assert len(own) > 0
    assert {f["properties"]["case_id"] for f in layers["cases"]["features"]} == set(own.case_id)
    assert {f["properties"]["adcode"] for f in layers["jurisdictions"]["features"]} == {COUNTY}
    config = config_of(answer.text)
    assert config["filters"]["jurisdiction"] == COUNTY
    assert {j["adcode"] for j in config["jurisdictions"]} == {COUNTY}
    for outside in (NEIGHBOUR, CITY):
        refused = county.get(f"/maps/clusters/file?jurisdiction={outside}")
        assert refused.status_code == 403 and set(refused.json()) == {"code", "description"}


def test_an_anonymous_file_is_the_public_view(
    anonymous: TestClient, built_sample_store: Engine
) -> None:
    answer = anonymous.get("/maps/hexagons/file")
    assert answer.status_code == 200
    hexagons = by_layer(answer.text)["hexagons"]["features"]
    public = Filters(min_count=3)  # what scoping gives an anonymous caller
    expected, _ = load_layer(built_sample_store, "hexagons", public, {"resolution": 6})
    shown = {f["properties"]["h3"]: f["properties"]["cases"] for f in hexagons}
    assert shown == dict(zip(expected["h3"].astype(str), expected["cases"], strict=True))
    assert {h3.get_resolution(c) for c in shown} == {PUBLIC_RESOLUTION}
    assert not {1, 2} & set(shown.values())  # the cell-key table publishes no 1 and no 2
    clusters = by_layer(anonymous.get("/maps/clusters/file").text)
    assert "cases" not in clusters  # no point records without an account
    for path in (f"/maps/hexagons/file?jurisdiction={CITY}", "/maps/planner/file"):
        refused = anonymous.get(path)
        assert refused.status_code == 401 and set(refused.json()) == {"code", "description"}
    assert anonymous.get("/maps/hexagons/file?resolution=7").status_code == 400


def test_a_file_with_point_records_is_audited(
    admin: TestClient, built_sample_store: Engine
) -> None:
    answer = admin.get(f"/maps/clusters/file?jurisdiction={CITY}")
    assert answer.status_code == 200
    cases = by_layer(answer.text)["cases"]["features"]
    assert cases
    entries = admin.get("/audit", params={"limit": 50}).json()["entries"]
    mine = [e for e in entries if e["resource"] == "/maps/clusters/file"]
    assert mine and mine[0]["records"] == len(cases)
    parameters = mine[0]["parameters"]
    parameters = json.loads(parameters) if isinstance(parameters, str) else parameters
    assert parameters["jurisdiction"] == CITY
    assert admin.get("/maps/hexagons/file").status_code == 200  # aggregates: not audited
    entries = admin.get("/audit", params={"limit": 50}).json()["entries"]
    assert not [e for e in entries if e["resource"] == "/maps/hexagons/file"]


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/maps/nowhere/file", 404),
        ("/maps/hexagons/file?resolution=4", 400),
        ("/maps/hotspots/file?resolution=10", 400),
        ("/maps/heatmap/file?resolution=7", 400),
    ],
)
def test_bad_file_requests_get_json_reasons(admin: TestClient, path: str, status: int) -> None:
    answer = admin.get(path)
    assert answer.status_code == status and set(answer.json()) == {"code", "description"}


def test_the_file_font_is_cut_to_the_characters_it_uses(admin: TestClient) -> None:
    html = admin.get(f"/maps/commonalities/file?jurisdiction={CITY}").text
    rule = re.search(r'@font-face\{font-family:"Noto Sans SC";[^}]*\}', html)
    assert rule, "no inline font"
    data = base64.b64decode(re.search(r"base64,([A-Za-z0-9+/=]+)", rule.group(0)).group(1))  # type: ignore[union-attr]
    assert data[:4] == b"wOFF" and len(data) < BUNDLED_FONT_BYTES / 10
    covered = set(TTFont(io.BytesIO(data)).getBestCmap())
    text = html.replace(rule.group(0), "")
    escaped = {int(code, 16) for code in re.findall(r"\\u([0-9a-fA-F]{4})", text)}
    chinese = {ord(c) for c in text if "\u4e00" <= c <= "\u9fff"} | escaped
    assert {ord(c) for c in "行政区划"} <= covered  # the layer control's names, escaped
    bundled = set(TTFont(_bundled_font()).getBestCmap())
    assert chinese and chinese & bundled <= covered  # every character the font has, kept
    assert len(covered) < len(bundled) / 5  # and not the whole of GB 2312


def _bundled_font() -> io.BytesIO:
    from geo_service.core.paths import STATIC_DIR

    path = STATIC_DIR / "vendor" / "fonts" / "NotoSansSC-Regular.subset.ttf"
    return io.BytesIO(path.read_bytes())


def test_a_file_over_the_bound_is_refused_not_handed_out(
    admin: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    import geo_service.api.maps

    def audited() -> int:
        entries = admin.get("/audit", params={"limit": 1000}).json()["entries"]
        return sum(e["resource"] == "/maps/clusters/file" for e in entries)

    size = len(admin.get(f"/maps/clusters/file?jurisdiction={COUNTY}").content)
    before = audited()
    monkeypatch.setattr(geo_service.api.maps, "MAP_FILE_MAX_BYTES", size - 1)
    refused = admin.get(f"/maps/clusters/file?jurisdiction={COUNTY}")
    assert refused.status_code == 400 and set(refused.json()) == {"code", "description"}
    assert "地图文件过大" in refused.json()["description"]
    assert audited() == before  # nothing handed out, nothing recorded
