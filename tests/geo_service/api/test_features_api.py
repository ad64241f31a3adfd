"""OGC API - Features core over the store: collections, paging, bbox, datetime, single items."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from urllib.parse import unquote

import geopandas as gpd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from geo_service.api.app import create_app
from geo_service.builds.run import analytic_layer
from geo_service.core.filters import Filters
from geo_service.core.settings import Settings
from geo_service.ingest import IngestOptions, ingest_file
from geo_service.store.queries import data_version
from tests.conftest import account_headers
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
    return TestClient(create_app(settings), headers=account_headers(sqlite_only_store))


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
    first = client.get("/collections/cases/items?limit=7").json()
    following = next(link["href"] for link in first["links"] if link["rel"] == "next")
    assert f"after={first['features'][-1]['id']}" in unquote(following)  # keyset continuation
    assert "offset=7" in following
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
        ("/collections/cases/items?limit=10001", 400),
        ("/collections/cases/items?limit=ten", 400),
        ("/collections/cases/items?start=2024-13-01", 400),
    ],
)
def test_bad_requests_get_a_json_reason(client: TestClient, url: str, status: int) -> None:
    response = client.get(url)
    assert response.status_code == status
    body = response.json()
    assert set(body) == {"code", "description"} and body["description"]


def test_responses_in_cgcs2000_and_web_mercator(client: TestClient) -> None:
    base = client.get("/collections/cases/items?limit=1").json()["features"][0]
    lon, lat = base["geometry"]["coordinates"]
    cgcs = client.get(
        "/collections/cases/items?limit=1&crs=http://www.opengis.net/def/crs/EPSG/0/4490"
    )
    assert cgcs.headers["content-crs"] == "<http://www.opengis.net/def/crs/EPSG/0/4490>"
    lat2, lon2 = cgcs.json()["features"][0]["geometry"][
        "coordinates"
    ]  # EPSG:4490 is latitude first
    assert abs(lat2 - lat) < 1e-6 and abs(lon2 - lon) < 1e-6
    merc = client.get(
        "/collections/cases/items?limit=1&crs=http://www.opengis.net/def/crs/EPSG/0/3857"
    )
    x, _ = merc.json()["features"][0]["geometry"]["coordinates"]
    assert abs(x - lon * 20037508.342789244 / 180) < 1.0
    assert client.get("/collections/cases/items?crs=EPSG:9999").status_code == 400
    assert (
        "http://www.opengis.net/def/crs/EPSG/0/4490"
        in client.get("/collections/cases").json()["crs"]
    )


def test_bbox_in_another_crs_selects_the_same_features(client: TestClient) -> None:
    lonlat = client.get("/collections/cases/items?bbox=107.5,22.0,109.5,23.5").json()
    k = 20037508.342789244 / 180
    import math

    def y(lat: float) -> float:
        return math.log(math.tan(math.pi / 4 + math.radians(lat) / 2)) * 6378137.0

    url = (
        f"/collections/cases/items?bbox={107.5 * k},{y(22.0)},{109.5 * k},{y(23.5)}"
        "&bbox-crs=http://www.opengis.net/def/crs/EPSG/0/3857"
    )
    mercator = client.get(url).json()
    assert mercator["numberMatched"] == lonlat["numberMatched"] > 0


def test_queryables_and_property_filters(client: TestClient) -> None:
    schema = client.get("/collections/cases/queryables").json()
    assert schema["properties"]["case_id"]["type"] == "string"
    assert schema["properties"]["penalty_amount"]["type"] == "number"
    register = client.get("/collections/cases/items?geocode_method=register").json()
    assert register["numberMatched"] == 2
    assert {f["properties"]["geocode_method"] for f in register["features"]} == {"register"}
    assert client.get("/collections/cases/items?colour=red").status_code == 400


def test_beyond_the_count_limit_pages_go_on_by_next_links(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More matches than COUNT_LIMIT: no numberMatched (counting a national store takes
    seconds), and the next links still walk every case once."""
    import geo_service.api.features as features

    monkeypatch.setattr(features, "COUNT_LIMIT", 10)
    seen: list[str] = []
    url = "/collections/cases/items?limit=6"
    while url:
        doc = client.get(url).json()
        assert "numberMatched" not in doc or doc["numberMatched"] <= 10
        seen += [f["id"] for f in doc["features"]]
        url = next((link["href"] for link in doc["links"] if link["rel"] == "next"), "")
    assert len(seen) == len(set(seen)) == 21
    first = client.get("/collections/cases/items?limit=6").json()
    assert "numberMatched" not in first and first["numberReturned"] == 6
    few = client.get("/collections/cases/items?jurisdiction=450100").json()
    assert 0 < few["numberMatched"] <= 10  # a small selection is still counted


def test_point_records_are_never_loaded_whole(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Queryables, property-filtered pages and single features of point records come from
    queries of the store, not from the collection loaded whole (a national store holds tens
    of millions)."""
    import geo_service.api.features as features

    whole = client.get("/collections/cases/items?limit=100").json()["features"]
    before = client.get("/collections/cases/queryables").json()

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the whole collection was loaded")

    monkeypatch.setattr(features, "load_layer", refuse)
    assert client.get("/collections/cases/queryables").json() == before
    register = client.get("/collections/cases/items?geocode_method=register&limit=1").json()
    assert register["numberMatched"] == 2 and register["numberReturned"] == 1
    one = client.get(f"/collections/cases/items/{whole[4]['id']}")
    assert one.status_code == 200 and one.json()["properties"] == whole[4]["properties"]
    assert client.get("/collections/cases/items/no-such-case").status_code == 404
    answer = client.get("/collections/cases/items?penalty_amount=lots")
    assert answer.status_code == 400 and "penalty_amount" in answer.json()["description"]


def test_layer_parameters_choose_the_build(client: TestClient) -> None:
    """``resolution`` picks the hexagon build; out-of-range values are a 400 with a reason."""
    for resolution in (6, 9):
        doc = client.get(f"/collections/hexagons/items?resolution={resolution}").json()
        assert doc["numberMatched"] > 0
        assert {f["properties"]["resolution"] for f in doc["features"]} == {resolution}
        assert sum(f["properties"]["cases"] for f in doc["features"]) == 21
    for bad in ("11", "4", "six", "6.5"):
        answer = client.get(f"/collections/hexagons/items?resolution={bad}")
        assert answer.status_code == 400 and "resolution" in answer.json()["description"]
    answer = client.get("/collections/hotspots/items?resolution=10")
    assert answer.status_code == 400 and "5…8" in answer.json()["description"]


def test_a_filter_that_leaves_no_cluster_gives_an_empty_page(client: TestClient) -> None:
    """21 scattered cases make no cluster of 10: an empty collection, not a server error."""
    answer = client.get("/collections/clusters/items?jurisdiction=450100")
    assert answer.status_code == 200
    assert answer.json()["numberMatched"] == 0 and answer.json()["features"] == []


def test_analytic_items_say_how_their_layer_was_built(
    client: TestClient, sqlite_only_store: Engine
) -> None:
    """An analytic layer's page and its single items carry the build's provenance: the
    store's data version, the parameters asked and chosen, the filters and the build time,
    as the stored build says them; point records and the divisions carry none."""
    doc = client.get("/collections/hexagons/items?resolution=6&limit=3").json()
    stored = analytic_layer(sqlite_only_store, "hexagons", Filters(), {"resolution": 6})
    provenance = doc["provenance"]
    assert provenance["layer"] == "hexagons" and provenance["filters"] == {}
    assert provenance["data_version"] == data_version(sqlite_only_store) == stored.data_version
    assert provenance["parameters"]["resolution"] == 6
    assert provenance["parameters"] == stored.parameters
    assert dt.datetime.fromisoformat(provenance["built_at"]) == stored.created_at
    one = doc["features"][0]["id"]
    item = client.get(f"/collections/hexagons/items/{one}?resolution=6").json()
    assert item["provenance"] == provenance
    nanning = client.get("/collections/hotspots/items?jurisdiction=450100").json()
    assert nanning["provenance"]["filters"] == {"jurisdiction": "450100"}
    default = analytic_layer(sqlite_only_store, "hotspots", Filters(jurisdiction="450100"), {})
    assert nanning["provenance"]["parameters"] == default.parameters  # defaults said too
    assert "resolution" in default.parameters
    for records in ("/collections/cases/items", "/collections/jurisdictions/items"):
        assert "provenance" not in client.get(records).json()
