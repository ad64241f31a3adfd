"""POST /collections/inspections/items: one finding from the field through the ingest.

A copy of the built sample store per module (findings change it). Created findings show
in the items, the ledger and the tiles at once and make the stored builds stale; refused
ones change nothing and are audited; every role × inside/outside × county/city/province
account is tried (the operation is in the scoping matrix's ``UNSCOPED`` set for this).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import uuid
from pathlib import Path
from typing import Any

import morecantile
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, text

from geo_service.access.policy import read_audit
from geo_service.api.app import create_app
from geo_service.api.field import FINDING_ROLES, worker_script
from geo_service.core import clock
from geo_service.core.filters import Filters
from geo_service.core.paths import SAMPLE_SLICE, STATIC_DIR
from geo_service.core.settings import Settings
from geo_service.ingest import IngestOptions, ingest_file
from geo_service.store.batches import read_batch
from geo_service.store.boundaries import read_divisions
from geo_service.store.layer_builds import load_layer
from geo_service.store.models import LayerBuild
from geo_service.store.queries import data_version, read_frame
from tests.conftest import account_headers
from tests.geo_service.draw_store import copy_store

COUNTY, NEIGHBOUR, OTHER_CITY_COUNTY = "450102", "450103", "450202"
CITY, OTHER_CITY, PROVINCE = "450100", "450200", "450000"
ROLES = ("admin", "leader", "planner", "gis", "inspector")
ITEMS = "/collections/inspections/items"
GEOJSON = {"Content-Type": "application/geo+json"}


@pytest.fixture(scope="module")
def world(built_sample_store: Engine, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A writable copy of the built sample store, its client and a point inside each
    county the tests use (a point on the county's surface)."""
    engine = copy_store(built_sample_store, tmp_path_factory.mktemp("field_findings"))
    url = engine.url.render_as_string(hide_password=False)
    client = TestClient(create_app(Settings(database_url=url, rate_limit_per_minute=0)))
    table = read_divisions(engine).table
    points = {
        code: table.loc[code].geometry.representative_point()
        for code in (COUNTY, NEIGHBOUR, OTHER_CITY_COUNTY)
    }
    return {"engine": engine, "client": client, "points": points}


def _feature(world: dict[str, Any], county: str, **properties: Any) -> dict[str, Any]:
    point = world["points"][county]
    return {
        "type": "Feature",
        "id": f"T-{uuid.uuid4().hex[:12]}",
        "geometry": {"type": "Point", "coordinates": [point.x, point.y]},
        "properties": {
            "inspection_date": "2026-11-02",
            "problem_found": "是",
            "problem_category": "废水",
            "description": "排污口有异常排放痕迹",
            "measures": "责令立即整改",
            **properties,
        },
    }


def _post(world: dict[str, Any], feature: Any, headers: dict[str, str]) -> Any:
    return world["client"].post(ITEMS, json=feature, headers={**headers, **GEOJSON})


def _stored(engine: Engine, inspection_id: str) -> Any:
    frame = read_frame(engine, "inspections", None, ["inspection_id", "description", "adcode"])
    return frame[frame["inspection_id"] == inspection_id]


def _tile_features(client: TestClient, headers: dict[str, str], lon: float, lat: float) -> set[str]:
    tile = morecantile.tms.get("WebMercatorQuad").tile(lon, lat, 14)
    answer = client.get(f"/tiles/inspections/{tile.z}/{tile.x}/{tile.y}.geojson", headers=headers)
    if answer.status_code == 204:
        return set()
    assert answer.status_code == 200, answer.text[:300]
    return {str(f["properties"].get("inspection_id")) for f in answer.json()["features"]}


def test_created_finding_shows_at_once_and_builds_go_stale(world: dict[str, Any]) -> None:
    engine, client = world["engine"], world["client"]
    headers = account_headers(engine, "inspector", COUNTY)
    feature = _feature(world, COUNTY)
    point = world["points"][COUNTY]
    with engine.connect() as conn:
        builds = conn.execute(select(LayerBuild.layer, LayerBuild.filters, LayerBuild.parameters))
        current = [b for b in builds if load_layer(engine, *b) is not None]
    assert current, "the built sample has current builds"
    version = data_version(engine)
    ledger = client.get("/stats/inspections?group_by=county", headers=headers).json()["rows"]
    assert feature["id"] not in _tile_features(client, headers, point.x, point.y)  # cached

    answer = _post(world, feature, headers)

    assert answer.status_code == 201, answer.text[:500]
    fid = feature["id"]
    assert answer.headers["location"].endswith(f"{ITEMS}/{fid}")
    assert answer.headers["content-type"].startswith("application/geo+json")
    body = answer.json()
    assert body["id"] == fid and body["properties"]["adcode"] == COUNTY
    assert body["properties"]["geocode_method"] == "coordinates"
    kept = body["properties"]["attributes"]  # what the columns do not hold is kept
    assert (json.loads(kept) if isinstance(kept, str) else kept)["measures"] == "责令立即整改"
    assert body["geometry"]["coordinates"] == pytest.approx([point.x, point.y])
    # at once: the item, the collection's items, the ledger and the (cached) tile
    assert client.get(answer.headers["location"], headers=headers).status_code == 200
    items = client.get(f"{ITEMS}?limit=10000", headers=headers).json()
    assert fid in {f["id"] for f in items["features"]}
    after = client.get("/stats/inspections?group_by=county", headers=headers).json()["rows"]
    assert after[0]["inspections"] == ledger[0]["inspections"] + 1
    assert after[0]["problems_found"] == ledger[0]["problems_found"] + 1
    assert fid in _tile_features(client, headers, point.x, point.y)
    # a batch of its own: the data version grows, the stored builds are stale
    assert data_version(engine) == version + 1
    assert all(load_layer(engine, *b) is None for b in current)
    batch = read_batch(engine, data_version(engine))
    assert batch["kind"] == "inspections" and batch["rows"] == batch["inserted"] == 1
    assert batch["jurisdiction"] == COUNTY and batch["source_name"] == f"field:{batch['account']}"
    # audited: who, when, which id
    entries = read_audit(engine, account=batch["account"])
    created = [e for e in entries if e["action"] == "finding"]
    assert created[0]["parameters"]["inspection_id"] == fid
    assert created[0]["parameters"]["outcome"] == "created"
    assert created[0]["parameters"]["batch_id"] == batch["batch_id"] and created[0]["at"]


def test_a_duplicate_id_is_409_and_nothing_changes(world: dict[str, Any]) -> None:
    engine = world["engine"]
    headers = account_headers(engine, "inspector", COUNTY)
    feature = _feature(world, COUNTY)
    assert _post(world, feature, headers).status_code == 201
    version = data_version(engine)
    again = {**feature, "properties": {**feature["properties"], "description": "改写的内容"}}
    answer = _post(world, again, headers)
    assert answer.status_code == 409
    assert answer.json()["code"] == "duplicate_id" and "检查编号" in answer.json()["description"]
    assert _stored(engine, feature["id"])["description"].tolist() == ["排污口有异常排放痕迹"]
    assert data_version(engine) == version
    # an id a file loaded, in another county: no overwrite either
    other = read_frame(engine, "inspections", Filters(jurisdiction=NEIGHBOUR), ["inspection_id"])
    taken = str(other["inspection_id"].iloc[0])
    answer = _post(world, {**_feature(world, COUNTY), "id": taken}, headers)
    assert answer.status_code == 409
    assert _stored(engine, taken)["adcode"].tolist() == [NEIGHBOUR]
    assert data_version(engine) == version


@pytest.mark.parametrize(
    ("change", "reason", "fields"),
    [
        ({"properties": {"inspection_date": "去年"}}, "bad_date", ("检查日期", "inspection_date")),
        ({"properties": {"inspection_date": ""}}, "missing_required", ("检查日期",)),
        ({"geometry": None}, "unlocatable", ("位置", "企业名称")),
        (
            {"geometry": {"type": "LineString", "coordinates": [[108.3, 22.8], [108.4, 22.9]]}},
            "not_a_point",
            ("位置（geometry）",),
        ),
        (
            {"geometry": {"type": "Point", "coordinates": [2.35, 48.85]}},
            "bad_coordinates",
            ("位置",),
        ),
    ],
)
def test_a_bad_finding_is_400_with_its_reasons(
    world: dict[str, Any], change: dict[str, Any], reason: str, fields: tuple[str, ...]
) -> None:
    engine = world["engine"]
    headers = account_headers(engine, "inspector", COUNTY)
    feature = _feature(world, COUNTY)
    if "properties" in change:
        feature["properties"].update(change["properties"])
    else:
        feature.update(change)
    version = data_version(engine)
    answer = _post(world, feature, headers)
    assert answer.status_code == 400, answer.text[:300]
    body = answer.json()
    assert body["code"] == "finding_rejected"
    assert "未保存" in body["description"] and reason in body["description"]
    assert all(f in body["description"] for f in fields), body["description"]
    assert _stored(engine, feature["id"]).empty and data_version(engine) == version
    account = read_audit(engine, limit=1)[0]
    assert account["action"] == "finding" and account["parameters"]["outcome"] == "finding_rejected"
    assert account["parameters"]["inspection_id"] == feature["id"]


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b'{"type": "FeatureCollection", "features": []}',
        b'{"type": "Feature", "geometry": null, "properties": {"inspection_id": "a/b"}}',
        b'{"type": "Feature", "id": "X1", "geometry": null, "properties": {"inspection_id": "X2"}}',
        b'{"type": "Feature", "geometry": {"type": "Point", "coordinates": ["x", 1]}}',
        b'{"type": "Feature", "geometry": {"type": "Point", "coordinates": [1'
        + b"0" * 400
        + b", 1]}}",
    ],
)
def test_what_is_not_a_finding_is_400(world: dict[str, Any], body: bytes) -> None:
    headers = account_headers(world["engine"], "inspector", COUNTY)
    answer = world["client"].post(ITEMS, content=body, headers={**headers, **GEOJSON})
    assert answer.status_code == 400
    assert set(answer.json()) == {"code", "description"}


def test_a_nul_in_a_finding_is_400(world: dict[str, Any]) -> None:
    """A NUL would pass SQLite and fail PostgreSQL (a 500): refused on every store."""
    headers = account_headers(world["engine"], "inspector", COUNTY)
    feature = _feature(world, COUNTY, description="排污口\x00异常")
    answer = _post(world, feature, headers)
    assert answer.status_code == 400 and "NUL" in answer.json()["description"]
    assert _stored(world["engine"], feature["id"]).empty


def test_anonymous_is_401_and_other_collections_take_no_posts(world: dict[str, Any]) -> None:
    client = world["client"]
    version = data_version(world["engine"])
    answer = client.post(ITEMS, json=_feature(world, COUNTY), headers=GEOJSON)
    assert answer.status_code == 401 and answer.json()["code"] == "authentication_required"
    headers = account_headers(world["engine"], "admin", PROVINCE)
    assert client.post("/collections/cases/items", json={}, headers=headers).status_code == 405
    assert data_version(world["engine"]) == version


def test_the_place_decides_not_the_stated_adcode(world: dict[str, Any]) -> None:
    engine = world["engine"]
    headers = account_headers(engine, "inspector", COUNTY)
    claimed_inside = _feature(world, NEIGHBOUR, adcode=COUNTY)
    assert _post(world, claimed_inside, headers).status_code == 403
    assert _stored(engine, claimed_inside["id"]).empty
    claimed_outside = _feature(world, COUNTY, adcode=NEIGHBOUR)
    assert _post(world, claimed_outside, headers).status_code == 201
    assert _stored(engine, claimed_outside["id"])["adcode"].tolist() == [COUNTY]
    # no geometry: placed at the register entry it names, which lies outside
    entry = read_frame(engine, "enterprises", Filters(jurisdiction=NEIGHBOUR), ["credit_code"])
    by_register = _feature(world, COUNTY, credit_code=str(entry["credit_code"].iloc[0]))
    by_register["geometry"] = None
    assert _post(world, by_register, headers).status_code == 403
    assert _stored(engine, by_register["id"]).empty


#: Accounts of each level: (own jurisdiction, counties inside it, counties outside it).
LEVELS = {
    "county": (COUNTY, (COUNTY,), (NEIGHBOUR, OTHER_CITY_COUNTY)),
    "city": (CITY, (COUNTY, NEIGHBOUR), (OTHER_CITY_COUNTY,)),
    "province": (PROVINCE, (COUNTY, NEIGHBOUR, OTHER_CITY_COUNTY), ()),
}


@pytest.mark.parametrize("level", list(LEVELS))
@pytest.mark.parametrize("role", ROLES)
def test_every_role_inside_and_outside_at_every_level(
    world: dict[str, Any], role: str, level: str
) -> None:
    """Writers are answered 201 inside their jurisdiction and 403 outside it; GIS staff
    403 everywhere; nothing is stored for a refusal."""
    engine = world["engine"]
    own, inside, outside = LEVELS[level]
    headers = account_headers(engine, role, own)
    for county in inside:
        feature = _feature(world, county)
        answer = _post(world, feature, headers)
        if role in FINDING_ROLES:
            assert answer.status_code == 201, (role, level, county, answer.text[:300])
            assert _stored(engine, feature["id"])["adcode"].tolist() == [county]
        else:
            assert answer.status_code == 403, (role, level, county)
            assert _stored(engine, feature["id"]).empty
    for county in outside:
        feature = _feature(world, county)
        answer = _post(world, feature, headers)
        assert answer.status_code == 403, (role, level, county, answer.text[:300])
        assert set(answer.json()) == {"code", "description"}
        assert _stored(engine, feature["id"]).empty
    last = next(e for e in read_audit(engine, limit=5) if e["action"] == "finding")
    assert last["role"] == role  # refusals are audited too
    expected = "outside_jurisdiction" if role in FINDING_ROLES and outside else "forbidden"
    assert last["parameters"]["outcome"] == (
        "created" if not outside and role != "gis" else expected
    )
    if level == "province" and role in FINDING_ROLES:  # beyond the store's province
        beyond = _feature(world, COUNTY)
        beyond["geometry"]["coordinates"] = [113.26, 23.13]  # Guangzhou, Guangdong
        answer = _post(world, beyond, headers)
        assert answer.status_code in (400, 403) and _stored(engine, beyond["id"]).empty


def test_the_field_page_and_its_worker(world: dict[str, Any], tmp_path: Path) -> None:
    client, engine = world["client"], world["engine"]
    headers = account_headers(engine, "inspector", COUNTY)
    page = client.get("/field?quarter=2025-Q1", headers=headers)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'id="field-data"' in page.text and "/static/field/field.js" in page.text
    assert "worker-src 'self'" in page.headers["content-security-policy"]
    worker = client.get("/field/sw.js")
    assert worker.status_code == 200
    assert worker.headers["service-worker-allowed"] == "/field"
    assert worker.headers["content-type"].startswith("text/javascript")
    # the phone's cache is named after the files it keeps: a changed field.js, a new name
    (name,) = re.findall(r'var CACHE = "(geo-field-[0-9a-f]{12})"', worker.text)
    for folder in ("same", "changed"):
        for kept in [*re.findall(r'"/static/([^"]+)"', worker.text), "field/sw.js"]:
            (tmp_path / folder / kept).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(STATIC_DIR / kept, tmp_path / folder / kept)
    (tmp_path / "changed" / "field" / "field.js").write_text("/* new */", encoding="utf-8")
    assert name in worker_script(tmp_path / "same").decode()
    assert name not in worker_script(tmp_path / "changed").decode()
    assert client.get("/field").status_code == 401
    gis = account_headers(engine, "gis", COUNTY)
    assert client.get("/field", headers=gis).status_code == 403


def test_today_is_beijing_today_while_the_host_clock_is_a_day_behind(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """00:30 in Beijing is 16:30 the day before in UTC: the field page dates a finding
    on the Beijing day, and the ingest takes that date as today, not as the future."""
    monkeypatch.setattr(clock, "utc_now", lambda: dt.datetime(2026, 12, 5, 16, 30, tzinfo=dt.UTC))
    engine = world["engine"]
    headers = account_headers(engine, "inspector", COUNTY)
    page = world["client"].get("/field", headers=headers)
    assert page.status_code == 200
    assert '"today": "2026-12-06"' in page.text
    taken = _post(world, _feature(world, COUNTY, inspection_date="2026-12-06"), headers)
    assert taken.status_code == 201, taken.text[:300]
    late = _feature(world, COUNTY, inspection_date="2026-12-07")
    refused = _post(world, late, headers)
    assert refused.status_code == 400 and "bad_date" in refused.json()["description"]
    assert _stored(engine, late["id"]).empty


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgis", marks=pytest.mark.postgis)])
def test_each_store_creates_once_and_links_to_the_register(
    request: pytest.FixtureRequest, backend: str, tmp_path: Path
) -> None:
    """The insert on each backend (PostGIS: its generated ``geom``): linked to the register
    entry it names, placed at it without a geometry, and never written twice."""
    engine: Engine = request.getfixturevalue(f"{backend}_only_store")
    options = IngestOptions(
        kind="enterprises", rejects_path=tmp_path / "rejects.csv", progress=False
    )
    ingest_file(engine, SAMPLE_SLICE / "enterprises.csv", options)
    entry = read_frame(
        engine, "enterprises", Filters(jurisdiction=COUNTY), ["credit_code", "lon", "lat"]
    ).dropna()
    code = str(entry["credit_code"].iloc[0])
    url = engine.url.render_as_string(hide_password=False)
    client = TestClient(create_app(Settings(database_url=url, rate_limit_per_minute=0)))
    headers = {**account_headers(engine, "inspector", COUNTY), **GEOJSON}
    feature = {
        "type": "Feature",
        "id": "PG-1",
        "geometry": None,
        "properties": {"检查日期": "2026-10-09", "统一社会信用代码": code, "检查情况": "正常"},
    }
    answer = client.post(ITEMS, json=feature, headers=headers)
    assert answer.status_code == 201, answer.text[:300]
    props = answer.json()["properties"]
    assert props["enterprise_credit_code"] == code and props["link_method"] == "credit_code"
    assert props["geocode_method"] == "register" and props["adcode"] == COUNTY
    assert answer.json()["geometry"]["coordinates"] == pytest.approx(
        [float(entry["lon"].iloc[0]), float(entry["lat"].iloc[0])]
    )
    assert client.post(ITEMS, json=feature, headers=headers).status_code == 409
    stored = read_frame(engine, "inspections", None, ["inspection_id", "description"])
    assert stored["inspection_id"].tolist() == ["PG-1"] and stored["description"][0] == "正常"
    if backend == "postgis":
        with engine.connect() as conn:
            inside = conn.execute(
                text(
                    "SELECT ST_Within(i.geom, ST_GeomFromWKB(j.geom_wkb, 4326)) FROM inspections i,"
                    " jurisdictions j WHERE i.inspection_id = 'PG-1' AND j.adcode = :county"
                ),
                {"county": COUNTY},
            ).scalar_one()
        assert inside is True
