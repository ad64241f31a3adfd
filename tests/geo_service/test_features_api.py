"""OGC API - Features core over the store: collections, paging, bbox, datetime, single items."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from geo_service.app import create_app
from geo_service.ingest import IngestOptions, ingest_file
from geo_service.settings import Settings
from tests.geo_service.messy import write_enterprises, write_messy_cases


@pytest.fixture
def client(
    sqlite_only_store: Engine, tmp_path: Path, divisions_gdf: gpd.GeoDataFrame
) -> TestClient:
    write_enterprises(tmp_path / "ent.csv", divisions_gdf)
    write_messy_cases(tmp_path / "cases.csv", divisions_gdf)
    for kind, name in (("enterprises", "ent.csv"), ("cases", "cases.csv")):
        ingest_file(sqlite_only_store, tmp_path / name, IngestOptions(kind=kind, progress=False))
    settings = Settings(database_url=sqlite_only_store.url.render_as_string(hide_password=False))
    return TestClient(create_app(settings))


def test_landing_conformance_and_collections(client: TestClient) -> None:
    rels = {link["rel"] for link in client.get("/").json()["links"]}
    assert {"service-desc", "conformance", "data"} <= rels
    conf = client.get("/conformance").json()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core" in conf
    ids = {c["id"] for c in client.get("/collections").json()["collections"]}
    assert {"cases", "inspections", "enterprises", "jurisdictions", "hexagons", "hotspots"} <= ids
    assert "kde" not in ids  # a raster, not features
    assert client.get("/collections/cases").json()["links"][1]["rel"] == "items"


def test_paging_walks_every_case_once(client: TestClient) -> None:
    seen: list[str] = []
    url = "/collections/cases/items?limit=7"
    while url:
        page = client.get(url)
        assert page.status_code == 200 and page.headers["content-type"].startswith(
            "application/geo+json"
        )
        doc = page.json()
        assert doc["numberMatched"] == 21 and doc["numberReturned"] == len(doc["features"])
        seen += [f["id"] for f in doc["features"]]
        url = next((link["href"] for link in doc["links"] if link["rel"] == "next"), "")
    assert len(seen) == len(set(seen)) == 21
    last = client.get("/collections/cases/items?limit=7&offset=14").json()
    assert any(link["rel"] == "prev" for link in last["links"])


def test_bbox_datetime_and_filters(client: TestClient) -> None:
    nanning = client.get("/collections/cases/items?jurisdiction=450100").json()
    assert nanning["numberMatched"] == 5
    box = client.get("/collections/cases/items?bbox=107.5,22.0,109.5,23.5").json()
    assert 0 < box["numberMatched"] < 21
    for f in box["features"]:
        lon, lat = f["geometry"]["coordinates"]
        assert 107.5 <= lon <= 109.5 and 22.0 <= lat <= 23.5
    assert client.get("/collections/cases/items?datetime=2024-05-04").json()["numberMatched"] == 21
    assert (
        client.get("/collections/cases/items?datetime=../2023-12-31").json()["numberMatched"] == 0
    )


def test_single_items_and_analytic_collections(client: TestClient) -> None:
    case = client.get("/collections/cases/items/桂环罚〔2024〕3号").json()
    assert (
        case["id"] == "桂环罚〔2024〕3号" and case["properties"]["geocode_method"] == "coordinates"
    )
    hexes = client.get("/collections/hexagons/items?limit=1000").json()
    assert sum(f["properties"]["cases"] for f in hexes["features"]) == 21


@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("/collections/nothing/items", 404),
        ("/collections/cases/items/nope", 404),
        ("/collections/cases/items?bbox=1,2,3", 400),
        ("/collections/cases/items?bbox=5,5,1,1", 400),
        ("/collections/cases/items?datetime=yesterday", 400),
        ("/collections/cases/items?jurisdiction=12", 400),
        ("/collections/cases/items?limit=10001", 422),
    ],
)
def test_bad_requests_get_a_json_reason(client: TestClient, url: str, status: int) -> None:
    response = client.get(url)
    assert response.status_code == status
    body = response.json()
    assert ("code" in body and "description" in body) or "detail" in body
