"""POST /ingest/{kind}: admins load files through the API, validated like the CLI."""

from __future__ import annotations

import csv
import datetime as dt
import io
import tempfile
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from geo_service.access.policy import read_audit
from geo_service.api.app import create_app
from geo_service.api.uploads import safe_name
from geo_service.core.settings import Settings
from tests.conftest import account_headers
from tests.geo_service.bulk_cases import write_cases_csv

N_ROWS, BAD_EVERY = 400, 50
COUNTY = "450102"  # 兴宁区, Nanning


def _client(engine: Engine, **settings: object) -> TestClient:
    url = engine.url.render_as_string(hide_password=False)
    return TestClient(create_app(Settings(database_url=url, **settings)))  # type: ignore[arg-type]


@pytest.fixture
def cases_csv(tmp_path: Path) -> tuple[Path, int]:
    path = tmp_path / "cases.csv"
    return path, write_cases_csv(path, N_ROWS, seed=5, prefix="UP", bad_every=BAD_EVERY)


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where the service's temporary files go during the test (must be empty after)."""
    directory = tmp_path / "server-tmp"
    directory.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(directory))
    return directory


def test_an_admin_upload_is_ingested_like_the_cli(
    store: Engine, cases_csv: tuple[Path, int], private_tmp: Path
) -> None:
    path, accepted = cases_csv
    client = _client(store)
    admin = account_headers(store, "admin", "450000")
    started = dt.datetime.now(dt.UTC)
    response = client.post(
        "/ingest/cases?filename=cases.csv",
        content=path.read_bytes(),
        headers={**admin, "Content-Type": "text/csv"},
    )
    assert response.status_code == 201, response.text
    summary = response.json()
    assert summary["rows"] == N_ROWS and summary["accepted"] == accepted
    assert summary["rejected"] == N_ROWS - accepted == len(range(0, N_ROWS, BAD_EVERY))
    assert summary["by_reason"] == {"bad_date": N_ROWS - accepted}
    assert "rejects_path" not in summary  # no server path handed out
    assert list(private_tmp.iterdir()) == []  # the upload is deleted after the ingest

    items = client.get("/collections/cases/items?limit=1", headers=admin).json()
    assert items["numberMatched"] == accepted
    rejects_href = next(link["href"] for link in summary["links"] if link["rel"] == "rejects")
    rejects = client.get(rejects_href, headers=admin)
    assert rejects.status_code == 200 and rejects.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(rejects.content.decode("utf-8-sig"))))
    assert [int(r["row_number"]) for r in rows] == [i + 2 for i in range(0, N_ROWS, BAD_EVERY)]
    assert {r["reason"] for r in rows} == {"bad_date"}
    assert all(r["decision_date"] == "2024-13-45" for r in rows)  # original values kept
    batch = client.get(f"/ingest/batches/{summary['batch_id']}", headers=admin).json()
    assert batch["source_name"] == "cases.csv" and batch["accepted"] == accepted
    assert batch["rejected"] == summary["rejected"]

    client.app.state.audit_log.flush()
    entries = read_audit(store, since=started)  # the store's earlier tests logged uploads too
    (entry,) = [e for e in entries if e["action"] == "ingest"]
    assert entry["resource"] == "/ingest/cases" and entry["records"] == accepted
    assert entry["parameters"]["batch_id"] == summary["batch_id"]


def test_reingesting_the_same_upload_updates_in_place(
    store: Engine, cases_csv: tuple[Path, int]
) -> None:
    path, accepted = cases_csv
    client = _client(store)
    admin = account_headers(store, "admin", "450000")
    for _ in range(2):
        summary = client.post(
            "/ingest/cases?filename=cases.csv", content=path.read_bytes(), headers=admin
        ).json()
    assert summary["inserted"] == 0 and summary["updated"] == accepted
    items = client.get("/collections/cases/items?limit=1", headers=admin).json()
    assert items["numberMatched"] == accepted


def test_a_county_admin_loads_its_county_only(
    store: Engine, cases_csv: tuple[Path, int], divisions_gdf: gpd.GeoDataFrame
) -> None:
    path, _ = cases_csv
    frame = pd.read_csv(path)
    county = divisions_gdf[divisions_gdf["adcode"].astype(str) == COUNTY].geometry.iloc[0]
    inside = gpd.points_from_xy(frame["lon"], frame["lat"]).within(county)
    good_date = ~frame["decision_date"].eq("2024-13-45").to_numpy()
    expected_in, expected_out = int((inside & good_date).sum()), int((~inside & good_date).sum())
    assert expected_in > 0 and expected_out > 0  # the file straddles the county's border

    client = _client(store)
    county_admin = account_headers(store, "admin", COUNTY)
    summary = client.post(
        "/ingest/cases?filename=cases.csv", content=path.read_bytes(), headers=county_admin
    ).json()
    assert summary["accepted"] == expected_in
    assert summary["by_reason"]["outside_jurisdiction"] == expected_out
    assert summary["accepted"] + summary["rejected"] == N_ROWS
    province_admin = account_headers(store, "admin", "450000")
    stored = client.get("/collections/cases/items?limit=10000", headers=province_admin).json()
    assert {f["properties"]["adcode"] for f in stored["features"]} == {COUNTY}


@pytest.mark.parametrize(
    ("who", "status"), [(None, 401), ("inspector", 403), ("leader", 403), ("gis", 403)]
)
def test_only_admins_upload(
    sqlite_only_store: Engine, cases_csv: tuple[Path, int], who: str | None, status: int
) -> None:
    path, _ = cases_csv
    headers = account_headers(sqlite_only_store, who, "450000") if who else {}
    client = _client(sqlite_only_store)
    response = client.post(
        "/ingest/cases?filename=cases.csv", content=path.read_bytes(), headers=headers
    )
    assert response.status_code == status and response.json()["code"]
    admin = account_headers(sqlite_only_store, "admin", "450000")
    assert client.get("/collections/cases/items", headers=admin).json()["numberMatched"] == 0
    if who:
        assert client.get("/ingest/batches/1/rejects.csv", headers=headers).status_code == 403


@pytest.mark.parametrize(
    ("query", "body", "content_type", "status", "says"),
    [
        ("?filename=cases.exe", b"x", "text/csv", 400, "unsupported file type"),
        ("", b"case_id\n1\n", "application/octet-stream", 400, "Content-Type"),
        ("?filename=cases.csv", b"", "text/csv", 400, "empty"),
        ("?filename=cases.csv&crs=EPSG:9999", b"case_id\n", "text/csv", 400, "crs"),
        ("?filename=cases.xlsx", b"not a workbook", "text/csv", 400, ""),
        ("?filename=cases.csv", b"\x00\xff\xfe garbage", "text/csv", 400, ""),
    ],
)
def test_bad_uploads_get_a_reason_and_change_nothing(
    sqlite_only_store: Engine, query: str, body: bytes, content_type: str, status: int, says: str
) -> None:
    client = _client(sqlite_only_store)
    admin = account_headers(sqlite_only_store, "admin", "450000")
    response = client.post(
        f"/ingest/cases{query}", content=body, headers={**admin, "Content-Type": content_type}
    )
    assert response.status_code == status, response.text
    assert says in response.json()["description"]
    assert client.get("/collections/cases/items", headers=admin).json()["numberMatched"] == 0


def test_unknown_kind_and_batch(sqlite_only_store: Engine) -> None:
    client = _client(sqlite_only_store)
    admin = account_headers(sqlite_only_store, "admin", "450000")
    assert (
        client.post("/ingest/users?filename=a.csv", content=b"a\n1\n", headers=admin).status_code
        == 400
    )
    assert client.get("/ingest/batches/99999", headers=admin).status_code == 404
    assert client.get("/ingest/batches/99999/rejects.csv", headers=admin).status_code == 404


def test_an_upload_over_the_body_limit_is_refused(
    sqlite_only_store: Engine, cases_csv: tuple[Path, int]
) -> None:
    path, _ = cases_csv
    client = _client(sqlite_only_store, max_body_bytes=1000)
    admin = account_headers(sqlite_only_store, "admin", "450000")
    response = client.post(
        "/ingest/cases?filename=cases.csv", content=path.read_bytes(), headers=admin
    )
    assert response.status_code == 413
    assert client.get("/collections/cases/items", headers=admin).json()["numberMatched"] == 0


@pytest.mark.parametrize(
    ("given", "safe"),
    [
        ("../../etc/cron.d/job.csv", "job.csv"),
        ("/abs/path/案件 2024.csv", "案件_2024.csv"),
        ("..", "upload.csv"),
        (None, "upload.csv"),
        ("a\x00b;rm -rf.csv", "a_b_rm_-rf.csv"),
    ],
)
def test_upload_names_cannot_reach_the_filesystem(given: str | None, safe: str) -> None:
    assert safe_name(given, ".csv") == safe
