"""GEO_TILE_MAX_POINTS: a tile of point records with more records inside it than the cap
carries aggregated points (count, penalty_sum for cases, aggregated=true), the same from
SQLite (the prepared layer) and PostGIS (GROUP BY in SQL), within the caller's scope; a
tile under the cap is the same bytes as without a cap."""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import mapbox_vector_tile
import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import Engine

from geo_service.api.app import create_app
from geo_service.api.tile_cache import DEFAULT_MAX_POINTS, TileService
from geo_service.builds.exports import load_layer
from geo_service.core.filters import Filters
from geo_service.core.paths import SAMPLE_SLICE
from geo_service.core.settings import Settings
from geo_service.ingest import IngestOptions, ingest_file
from geo_service.store.queries import RECORD_KEYS, read_records
from layers.tiles import tile_bounds_lonlat, tile_grid
from layers.vector_tiles import EXTENT
from tests.conftest import _clear_records, account_headers

CAP = 150
KINDS = ("enterprises", "cases", "inspections")
NANNING = (108.37, 22.82)
COUNTY = "451302"  # the county with the most cases in the sample slice
Y_DOWN = {"y_coord_down": True}


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int, int]:
    n = 2**z
    y = (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n
    return z, int((lon + 180) / 360 * n), int(y)


def _load(engine: Engine, out: Path) -> Engine:
    _clear_records(engine)
    for kind in KINDS:
        options = IngestOptions(
            kind=kind,
            progress=False,
            today=dt.date(2026, 11, 28),
            rejects_path=out / f"{kind}.rejects.csv",
        )
        ingest_file(engine, SAMPLE_SLICE / f"{kind}.csv", options)
    return engine


@pytest.fixture(scope="module")
def lite(sqlite_store: Engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """The sample's register, cases and inspections in the SQLite store."""
    yield _load(sqlite_store, tmp_path_factory.mktemp("caps-sqlite"))
    _clear_records(sqlite_store)


@pytest.fixture(scope="module")
def pg(postgis_store: Engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """The same records in the PostGIS store."""
    yield _load(postgis_store, tmp_path_factory.mktemp("caps-postgis"))
    _clear_records(postgis_store)


@pytest.fixture(params=["sqlite", pytest.param("postgis", marks=pytest.mark.postgis)])
def engine(request: pytest.FixtureRequest) -> Engine:
    """The loaded store on each backend."""
    return request.getfixturevalue({"sqlite": "lite", "postgis": "pg"}[request.param])  # type: ignore[no-any-return]


@contextmanager
def serving(
    engine: Engine, cap: int, headers: dict[str, str] | None = None
) -> Iterator[TestClient]:
    url = engine.url.render_as_string(hide_password=False)
    app = create_app(Settings(database_url=url, tile_max_points=cap))
    with TestClient(app, headers=account_headers(engine) if headers is None else headers) as c:
        yield c


def inside(engine: Engine, kind: str, filters: Filters, tile: tuple[int, int, int]) -> pd.DataFrame:
    """The records inside the tile itself, counted directly from the store's rows."""
    frame = read_records(engine, kind, filters)
    west, south, east, north = tile_bounds_lonlat(*tile)
    lon, lat = frame["lon"], frame["lat"]
    return frame[(lon >= west) & (lon < east) & (lat >= south) & (lat < north)]


def features(body: bytes, layer: str) -> list[dict]:
    return mapbox_vector_tile.decode(body, default_options=Y_DOWN)[layer]["features"]


# ---------------------------------------------------------------- the setting


def test_the_cap_is_a_setting_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, sqlite_store: Engine
) -> None:
    monkeypatch.setenv("GEO_TILE_MAX_POINTS", "1234")
    assert Settings().tile_max_points == 1234
    monkeypatch.setenv("GEO_TILE_MAX_POINTS", "-1")
    with pytest.raises(ValidationError):
        Settings()
    monkeypatch.delenv("GEO_TILE_MAX_POINTS")
    assert Settings().tile_max_points == DEFAULT_MAX_POINTS > 0
    assert TileService(sqlite_store, 0).max_points == DEFAULT_MAX_POINTS
    never = TileService(sqlite_store, 0, settings=Settings(tile_max_points=0))
    assert never.max_points is None  # 0: never aggregated
    assert TileService(sqlite_store, 0, settings=Settings(tile_max_points=7)).max_points == 7


# ---------------------------------------------------------------- each backend


@pytest.mark.parametrize("kind", KINDS)
def test_a_crowded_tile_carries_aggregates_counting_its_records(engine: Engine, kind: str) -> None:
    tile = tile_of(*NANNING, 8)
    direct = inside(engine, kind, Filters(), tile)
    assert len(direct) > CAP
    z, x, y = tile
    with serving(engine, CAP) as client:
        mvt = client.get(f"/tiles/{kind}/{z}/{x}/{y}.mvt")
        doc = client.get(f"/tiles/{kind}/{z}/{x}/{y}.geojson").json()
    assert mvt.status_code == 200 and mvt.headers["Cache-Control"].startswith("private")
    found = features(mvt.content, kind)
    assert found and all(f["properties"]["aggregated"] is True for f in found)
    assert sum(f["properties"]["count"] for f in found) == len(direct)
    assert len(found) < len(direct)
    for f in found:
        px, py = f["geometry"]["coordinates"]
        assert 0 <= px <= EXTENT and 0 <= py <= EXTENT
    if kind == "cases":
        total = sum(f["properties"].get("penalty_sum", 0.0) for f in found)
        assert total == pytest.approx(direct["penalty_amount"].sum())
    else:
        assert all(set(f["properties"]) == {"count", "aggregated"} for f in found)
    # the GeoJSON tile: the same cells, their mean positions inside the tile
    assert [f["properties"]["count"] for f in doc["features"]] == [
        f["properties"]["count"] for f in found
    ]
    west, south, east, north = tile_bounds_lonlat(*tile)
    for f in doc["features"]:
        lon, lat = f["geometry"]["coordinates"]
        assert west <= lon <= east and south <= lat <= north


def test_a_tile_under_the_cap_is_unchanged(engine: Engine) -> None:
    own = read_records(engine, "cases", Filters(jurisdiction=COUNTY))
    tile = tile_of(float(own["lon"].median()), float(own["lat"].median()), 13)
    z, x, y = tile
    n = len(inside(engine, "cases", Filters(), tile))
    assert 0 < n <= CAP
    bodies = {}
    for cap in (CAP, 0):  # 0: no cap, the tiles as they were made before it
        with serving(engine, cap) as client:
            bodies[cap] = [
                client.get(f"/tiles/cases/{z}/{x}/{y}.{fmt}").content for fmt in ("mvt", "geojson")
            ]
    assert bodies[CAP] == bodies[0]
    assert all("aggregated" not in f["properties"] for f in features(bodies[CAP][0], "cases"))
    assert len(json.loads(bodies[CAP][1])["features"]) >= n


def test_a_county_account_gets_aggregates_of_its_county_only(engine: Engine) -> None:
    own = read_records(engine, "cases", Filters(jurisdiction=COUNTY))
    tile = tile_of(float(own["lon"].median()), float(own["lat"].median()), 8)
    z, x, y = tile
    mine = inside(engine, "cases", Filters(jurisdiction=COUNTY), tile)
    everyone = inside(engine, "cases", Filters(), tile)
    assert CAP < len(mine) < len(everyone)
    headers = account_headers(engine, "inspector", COUNTY)
    with serving(engine, CAP, headers) as client:
        scoped = features(client.get(f"/tiles/cases/{z}/{x}/{y}.mvt").content, "cases")
        asked = client.get(f"/tiles/cases/{z}/{x}/{y}.mvt", params={"jurisdiction": "450100"})
        doc = client.get(f"/tiles/cases/{z}/{x}/{y}.geojson").json()
    assert all(f["properties"]["aggregated"] for f in scoped)
    assert sum(f["properties"]["count"] for f in scoped) == len(mine)
    assert sum(f["properties"]["count"] for f in doc["features"]) == len(mine)
    total = sum(f["properties"]["penalty_sum"] for f in scoped if "penalty_sum" in f["properties"])
    assert total == pytest.approx(mine["penalty_amount"].sum())
    assert asked.status_code == 403  # another jurisdiction: refused, aggregated or not
    with serving(engine, CAP) as admin:  # the region's admin sees every record's aggregate
        region = features(admin.get(f"/tiles/cases/{z}/{x}/{y}.mvt").content, "cases")
    assert sum(f["properties"]["count"] for f in region) == len(everyone)


def test_aggregated_tiles_keep_caching_access_and_audit(engine: Engine) -> None:
    z, x, y = tile_of(*NANNING, 8)
    path = f"/tiles/cases/{z}/{x}/{y}.mvt"
    with serving(engine, CAP) as client:
        first = client.get(path, headers={"Accept-Encoding": "gzip"})
        again = client.get(path, headers={"If-None-Match": first.headers["ETag"]})
        plain = client.get(path, headers={"Accept-Encoding": "identity"})
        anonymous = client.get(path, headers={"Authorization": ""})
        audit = client.get("/audit", params={"limit": 50})
    assert first.headers["Content-Encoding"] == "gzip" and first.headers["ETag"].endswith('-gz"')
    assert again.status_code == 304
    assert plain.status_code == 200 and plain.headers["ETag"] != first.headers["ETag"]
    assert all(f["properties"]["aggregated"] for f in features(plain.content, "cases"))
    assert anonymous.status_code == 401  # point layers need an account, aggregated or not
    assert audit.status_code == 200 and path in audit.text


@pytest.mark.parametrize("kind", KINDS)
def test_tilejson_describes_the_aggregated_points(engine: Engine, kind: str) -> None:
    with serving(engine, CAP) as client:
        doc = client.get(f"/tiles/{kind}/tilejson.json").json()
    layer = doc["vector_layers"][0]
    assert f"more than {CAP:,} records" in layer["description"]
    assert "aggregated=true" in layer["description"] and "32×32" in layer["description"]
    assert layer["fields"]["aggregated"].startswith("Boolean")
    assert layer["fields"]["count"].startswith("Number")
    assert ("penalty_sum" in layer["fields"]) == (kind == "cases")
    assert RECORD_KEYS[kind] in layer["fields"]  # and the records' own properties
    with serving(engine, 0) as uncapped:
        never = uncapped.get(f"/tiles/{kind}/tilejson.json").json()["vector_layers"][0]
    assert "aggregated" not in never["fields"] and "aggregated" not in never["description"]


# ---------------------------------------------------------------- both backends at once


@pytest.mark.postgis
@pytest.mark.parametrize("kind", KINDS)
def test_sqlite_and_postgis_give_the_same_aggregates(lite: Engine, pg: Engine, kind: str) -> None:
    services = {
        name: TileService(e, 0, max_points=CAP) for name, e in (("sqlite", lite), ("postgis", pg))
    }
    county = read_records(lite, "cases", Filters(jurisdiction=COUNTY))
    places = [NANNING, (float(county["lon"].median()), float(county["lat"].median()))]
    compared = 0
    for filters in (
        Filters(),
        Filters(period="2024"),
        Filters(jurisdiction="450100"),
        Filters(industry="C26"),
    ):
        for lon, lat in places:
            for z in (6, 7, 8, 9):
                tile = tile_of(lon, lat, z)
                n = len(inside(lite, kind, filters, tile))
                mvt = {
                    name: s.feature_tile(kind, "mvt", filters, {}, tile)
                    for name, s in services.items()
                }
                gj = {
                    name: s.feature_tile(kind, "geojson", filters, {}, tile)
                    for name, s in services.items()
                }
                if n <= CAP:
                    continue  # plain tiles: test_postgis_serving compares them
                a, b = features(mvt["sqlite"], kind), features(mvt["postgis"], kind)
                assert [f["properties"]["count"] for f in a] == [
                    f["properties"]["count"] for f in b
                ]
                assert sum(f["properties"]["count"] for f in a) == n
                for fa, fb in zip(a, b, strict=True):
                    ua, ub = fa["geometry"]["coordinates"], fb["geometry"]["coordinates"]
                    assert abs(ua[0] - ub[0]) <= 1 and abs(ua[1] - ub[1]) <= 1
                    assert fa["properties"].get("penalty_sum") == pytest.approx(
                        fb["properties"].get("penalty_sum")
                    )
                ga, gb = json.loads(gj["sqlite"]), json.loads(gj["postgis"])
                assert len(ga["features"]) == len(a)
                for fa, fb in zip(ga["features"], gb["features"], strict=True):
                    assert fa["properties"]["count"] == fb["properties"]["count"]
                    assert np.allclose(
                        fa["geometry"]["coordinates"], fb["geometry"]["coordinates"], atol=1e-6
                    )
                compared += len(a)
    assert compared > 100


# ---------------------------------------------------------------- the risk of each enterprise


def test_enterprise_risk_points_are_aggregated_too(built_sample_store: Engine) -> None:
    frame, _ = load_layer(built_sample_store, "risk", Filters(), {"unit": "enterprise"})
    lon, lat = frame.geometry.x, frame.geometry.y
    tile = tile_of(float(lon.median()), float(lat.median()), 7)
    west, south, east, north = tile_bounds_lonlat(*tile)
    n = int(((lon >= west) & (lon < east) & (lat >= south) & (lat < north)).sum())
    cap = n // 3
    assert cap > 10
    z, x, y = tile
    with serving(built_sample_store, cap) as client:
        body = client.get(f"/tiles/risk/{z}/{x}/{y}.mvt", params={"unit": "enterprise"}).content
        cells = client.get(f"/tiles/risk/{z}/{x}/{y}.mvt").content  # hexagons: never aggregated
    found = features(body, "risk")
    assert all(f["properties"]["aggregated"] for f in found)
    assert sum(f["properties"]["count"] for f in found) == n
    hexagons = features(cells, "risk")
    assert hexagons and all("aggregated" not in f["properties"] for f in hexagons)
    assert len(hexagons) > cap and hexagons[0]["geometry"]["type"] in ("Polygon", "MultiPolygon")


# ---------------------------------------------------------------- records on the grid's edges


def _edge_cases(tile: tuple[int, int, int]) -> pd.DataFrame:
    """Cases exactly on the tile's grid edges (its east and north edges too), and others."""
    import h3

    lon_edges, lat_edges = tile_grid(*tile)
    rng = np.random.default_rng(5)
    ks, js = rng.integers(0, len(lon_edges), 160), rng.integers(0, len(lat_edges), 160)
    lon = np.concatenate([lon_edges[ks], rng.uniform(lon_edges[0], lon_edges[-1], 60)])
    lat = np.concatenate([lat_edges[js], rng.uniform(lat_edges[0], lat_edges[-1], 60)])
    return pd.DataFrame(
        {
            "case_id": [f"E{i}" for i in range(len(lon))],
            "decision_date": dt.date(2024, 5, 1),
            "lon": lon,
            "lat": lat,
            "penalty_amount": rng.integers(1, 90, len(lon)) * 1000.0,
            "geocode_method": "coordinates",
            "geocode_precision": "point",
            "h3_15": [int(h3.latlng_to_cell(b, a, 15), 16) for a, b in zip(lon, lat, strict=True)],
        }
    )


@pytest.mark.postgis
def test_records_on_the_grid_edges_fall_alike_on_both_backends(
    worker_id: str, tmp_path: Path
) -> None:
    from geo_service.store import make_engine, migrate
    from geo_service.store.models import PenaltyCase
    from tests.conftest import scratch_postgres

    tile = tile_of(*NANNING, 10)
    east = (tile[0], tile[1] + 1, tile[2])
    rows = _edge_cases(tile).to_dict(orient="records")
    lite_engine = make_engine(f"sqlite:///{tmp_path / 'edges.db'}")
    with scratch_postgres(worker_id, "_edges") as pg_engine:
        got = {}
        for name, engine in (("sqlite", lite_engine), ("postgis", pg_engine)):
            migrate(engine)
            with engine.begin() as conn:
                conn.execute(PenaltyCase.__table__.insert(), rows)
            service = TileService(engine, 0, max_points=1)
            got[name] = [
                json.loads(service.feature_tile("cases", "geojson", Filters(), {}, t))
                for t in (tile, east)
            ]
    lite_engine.dispose()
    # the same cells and counts, the edges to the east and north of the cell they close
    for here, there in zip(got["sqlite"], got["postgis"], strict=True):
        assert [f["properties"]["count"] for f in here["features"]] == [
            f["properties"]["count"] for f in there["features"]
        ]
        for a, b in zip(here["features"], there["features"], strict=True):
            assert np.allclose(
                a["geometry"]["coordinates"], b["geometry"]["coordinates"], atol=1e-9
            )
            assert a["properties"]["penalty_sum"] == pytest.approx(b["properties"]["penalty_sum"])
    frame = pd.DataFrame(rows)
    lon_edges, lat_edges = tile_grid(*tile)
    inside_here = (
        (frame["lon"] >= lon_edges[0])
        & (frame["lon"] < lon_edges[-1])
        & (frame["lat"] >= lat_edges[0])
        & (frame["lat"] < lat_edges[-1])
    )
    on_east_edge = (frame["lon"] == lon_edges[-1]) & (frame["lat"] < lat_edges[-1])
    assert inside_here.sum() > 100 and on_east_edge.sum() > 0
    assert sum(f["properties"]["count"] for f in got["postgis"][0]["features"]) == inside_here.sum()
    in_east = sum(f["properties"]["count"] for f in got["postgis"][1]["features"])
    assert in_east == on_east_edge.sum()  # the east edge is the next tile's west edge
