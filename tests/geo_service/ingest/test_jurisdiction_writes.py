"""Nothing crosses a jurisdiction through the admin routes: writes, batches, audit.

An account of one county must not overwrite or move another jurisdiction's record by
uploading a row with its natural key, nor read the batches, rejected rows or audit
entries of other jurisdictions.
"""

from __future__ import annotations

import csv
import io
import tempfile
from pathlib import Path
from uuid import uuid4

import geopandas as gpd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, update

from geo_service.access.policy import add_account, read_audit
from geo_service.api.app import create_app
from geo_service.core.settings import Settings
from geo_service.ingest import IngestOptions, ingest_file
from geo_service.store.models import PenaltyCase
from tests.conftest import account_headers

COUNTY, NEIGHBOUR, LIUZHOU_COUNTY = "450102", "450103", "450202"
FIELDS = (
    "case_id",
    "decision_date",
    "lon",
    "lat",
    "crs",
    "credit_code",
    "penalty_amount",
    "violation_type",
)


def _client(engine: Engine) -> TestClient:
    url = engine.url.render_as_string(hide_password=False)
    return TestClient(create_app(Settings(database_url=url)))


def _point_in(divisions: gpd.GeoDataFrame, adcode: str) -> tuple[float, float]:
    shape = divisions[divisions["adcode"].astype(str) == adcode].geometry.iloc[0]
    point = shape.representative_point()
    return round(point.x, 6), round(point.y, 6)


def _csv(*rows: dict[str, object]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=FIELDS)
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def _case(case_id: str, point: tuple[float, float], **values: object) -> dict[str, object]:
    row: dict[str, object] = {
        "case_id": case_id,
        "decision_date": "2024-03-05",
        "lon": point[0],
        "lat": point[1],
        "crs": "WGS84",
        "credit_code": "",
        "penalty_amount": 1000,
        "violation_type": "超标排放",
    }
    return {**row, **values}


def _stored(engine: Engine, case_id: str) -> dict[str, object]:
    c = PenaltyCase.__table__.c
    query = select(c.adcode, c.credit_code, c.penalty_amount, c.lon, c.lat).where(
        c.case_id == case_id
    )
    with engine.connect() as conn:
        return dict(conn.execute(query).mappings().one())


def _upload(client: TestClient, headers: dict[str, str], body: bytes) -> dict[str, object]:
    response = client.post("/ingest/cases?filename=cases.csv", content=body, headers=headers)
    assert response.status_code == 201, response.text
    summary: dict[str, object] = response.json()
    return summary


def test_a_county_admin_cannot_overwrite_another_jurisdictions_record(
    store: Engine, divisions_gdf: gpd.GeoDataFrame
) -> None:
    client = _client(store)
    province = account_headers(store, "admin", "450000")
    liuzhou, own = _point_in(divisions_gdf, LIUZHOU_COUNTY), _point_in(divisions_gdf, COUNTY)
    _upload(
        client,
        province,
        _csv(
            _case("LZ-1", liuzhou, credit_code="91450200MA5KXXXX1X", penalty_amount=250000),
            _case("NN-1", own, penalty_amount=3000),
        ),
    )
    before = _stored(store, "LZ-1")
    assert before["adcode"] == LIUZHOU_COUNTY

    county = account_headers(store, "admin", COUNTY)
    summary = _upload(
        client,
        county,
        _csv(
            _case("LZ-1", own, penalty_amount=1),  # the Liuzhou case's id, a point in 450102
            _case("NN-1", own, penalty_amount=4000),  # its own county's case: updated
            _case("NN-2", own),  # a new case of its own: inserted
        ),
    )
    assert summary["by_reason"] == {"outside_jurisdiction": 1}
    assert (summary["accepted"], summary["inserted"], summary["updated"]) == (2, 1, 1)
    assert _stored(store, "LZ-1") == before  # unmoved, credit code and penalty kept
    assert _stored(store, "NN-1")["penalty_amount"] == 4000

    batch = summary["batch_id"]
    rejects = client.get(f"/ingest/batches/{batch}/rejects.csv", headers=county)
    (row,) = csv.DictReader(io.StringIO(rejects.content.decode("utf-8-sig")))
    assert row["case_id"] == "LZ-1" and row["reason"] == "outside_jurisdiction"
    assert LIUZHOU_COUNTY not in row["detail"]  # where the stored record is, is not told


def test_a_city_record_is_outside_each_of_its_counties(
    store: Engine, divisions_gdf: gpd.GeoDataFrame
) -> None:
    """A record the store places only at city level may lie in any of its counties: a
    county admin may not claim it."""
    province = IngestOptions(kind="cases", progress=False)
    point = _point_in(divisions_gdf, COUNTY)
    path = _write(store, _csv(_case("CITY-1", point)))
    ingest_file(store, path, province)
    with store.begin() as conn:  # as an address placed only at city level is stored
        conn.execute(update(PenaltyCase).where(PenaltyCase.case_id == "CITY-1").values(adcode=None))
    county = IngestOptions(kind="cases", progress=False, within=COUNTY)
    summary = ingest_file(store, _write(store, _csv(_case("CITY-1", point))), county)
    assert summary["by_reason"] == {"outside_jurisdiction": 1}
    assert _stored(store, "CITY-1")["adcode"] is None


def _write(engine: Engine, body: bytes) -> Path:
    path = Path(tempfile.mkdtemp()) / f"cases-{uuid4().hex[:6]}.csv"
    path.write_bytes(body)
    return path


def test_batches_and_rejects_are_read_within_the_admins_jurisdiction(
    store: Engine, divisions_gdf: gpd.GeoDataFrame
) -> None:
    client = _client(store)
    own = _point_in(divisions_gdf, COUNTY)
    county = account_headers(store, "admin", COUNTY)
    summary = _upload(
        client, county, _csv(_case("B-1", own), _case("B-2", own, decision_date="bad"))
    )
    batch = summary["batch_id"]
    province_batch = _upload(
        client, account_headers(store, "admin", "450000"), _csv(_case("B-3", own))
    )["batch_id"]
    cli_batch = ingest_file(
        store, _write(store, _csv(_case("B-4", own))), IngestOptions(kind="cases", progress=False)
    )["batch_id"]

    readers = {
        "own county": (county, {batch}),
        "its city": (account_headers(store, "admin", "450100"), {batch}),
        "the province": (
            account_headers(store, "admin", "450000"),
            {batch, province_batch, cli_batch},
        ),
        "the neighbouring county": (account_headers(store, "admin", NEIGHBOUR), set()),
        "another city's county": (account_headers(store, "admin", LIUZHOU_COUNTY), set()),
    }
    for who, (headers, allowed) in readers.items():
        for one in (batch, province_batch, cli_batch):
            for path in (f"/ingest/batches/{one}", f"/ingest/batches/{one}/rejects.csv"):
                response = client.get(path, headers=headers)
                expected = 200 if one in allowed else 404
                assert response.status_code == expected, (who, path, response.text)
                if expected == 404:
                    assert b"B-" not in response.content  # nothing of the batch
    leader = account_headers(store, "leader", COUNTY)
    assert client.get(f"/ingest/batches/{batch}", headers=leader).status_code == 403
    own_batch = client.get(f"/ingest/batches/{batch}", headers=county).json()
    assert own_batch["jurisdiction"] == COUNTY and own_batch["account"].startswith("test-admin")


@pytest.mark.parametrize("batch", ["99999999999999999999", "0", "-1", "x"])
def test_an_impossible_batch_id_is_a_400(sqlite_only_store: Engine, batch: str) -> None:
    client = _client(sqlite_only_store)
    admin = account_headers(sqlite_only_store, "admin", "450000")
    for path in (f"/ingest/batches/{batch}", f"/ingest/batches/{batch}/rejects.csv"):
        response = client.get(path, headers=admin)
        assert response.status_code == 400, response.text
        assert response.json()["code"] == "bad_parameter"


def test_the_audit_log_is_read_within_the_admins_jurisdiction(sqlite_only_store: Engine) -> None:
    engine = sqlite_only_store
    client = _client(engine)
    tag = uuid4().hex[:6]
    keys = {
        adcode: add_account(engine, f"audit-{tag}-{adcode}", "leader", adcode)
        for adcode in (COUNTY, NEIGHBOUR, "450100", LIUZHOU_COUNTY)
    }
    for key in keys.values():  # each reads point records of its own: one audit entry each
        headers = {"Authorization": f"Bearer {key}"}
        assert client.get("/collections/cases/items?limit=1", headers=headers).status_code == 200
    client.app.state.audit_log.flush()  # type: ignore[attr-defined]

    def seen(adcode: str) -> set[str]:
        headers = account_headers(engine, "admin", adcode)
        entries = client.get("/audit?limit=10000", headers=headers).json()["entries"]
        return {e["account"] for e in entries if e["account"].startswith(f"audit-{tag}")}

    name = f"audit-{tag}-{{}}".format
    assert seen(COUNTY) == {name(COUNTY)}
    assert seen("450100") == {name(COUNTY), name(NEIGHBOUR), name("450100")}
    assert seen(LIUZHOU_COUNTY) == {name(LIUZHOU_COUNTY)}
    assert seen("450000") == {name(a) for a in keys}
    every = {e["account"] for e in read_audit(engine, limit=10_000)}  # the command line
    assert {name(a) for a in keys} <= every


@pytest.mark.parametrize("workers", [0, 1], ids=["one-process", "worker"])
def test_a_record_stored_outside_keeps_the_order_of_the_checks(
    sqlite_only_store: Engine, divisions_gdf: gpd.GeoDataFrame, workers: int
) -> None:
    """Stored outside the uploader's county: rejected as such, unless a check that comes
    first (a bad date) rejects the row, when a worker process checks the values too."""
    store = sqlite_only_store
    point = _point_in(divisions_gdf, COUNTY)
    rows = [_case(f"CITY-{i}", point) for i in range(3)]
    ingest_file(store, _write(store, _csv(*rows)), IngestOptions(kind="cases", progress=False))
    with store.begin() as conn:  # placed only at city level: outside each of its counties
        city_level = PenaltyCase.case_id.in_(["CITY-0", "CITY-1"])
        conn.execute(update(PenaltyCase).where(city_level).values(adcode=None))
    again = [
        _case("CITY-0", point),
        _case("CITY-1", point, decision_date="2024-13-40"),
        _case("CITY-2", point, penalty_amount=2000),
    ]
    county = IngestOptions(
        kind="cases", progress=False, within=COUNTY, chunk_rows=2, workers=workers
    )
    summary = ingest_file(store, _write(store, _csv(*again)), county)
    assert summary["by_reason"] == {"outside_jurisdiction": 1, "bad_date": 1}
    assert summary["updated"] == 1 and _stored(store, "CITY-2")["penalty_amount"] == 2000
    assert _stored(store, "CITY-1")["adcode"] is None
