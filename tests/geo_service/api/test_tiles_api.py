"""The tile routes over the built sample store: MVT and GeoJSON tiles of every layer, TileJSON,
heat tiles and legend, validation, HTTP caching (ETag, 304, gzip) and invalidation by ingest."""

from __future__ import annotations

import gzip
import io
import json
import math
from collections.abc import Iterator
from pathlib import Path

import mapbox_vector_tile
import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import Engine

from geo_service.api.app import create_app
from geo_service.api.features import COLLECTIONS
from geo_service.api.tile_cache import CachedTile, Prepared, TileLru, TileService
from geo_service.builds.exports import load_layer
from geo_service.core.filters import Filters
from geo_service.core.settings import Settings
from geo_service.ingest import IngestOptions, ingest_file
from layers.tiles import tile_bounds_lonlat
from tests.conftest import account_headers

NANNING = (108.37, 22.82)


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int, int]:
    n = 2**z
    y = (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n
    return z, int((lon + 180) / 360 * n), int(y)


Z, X, Y = tile_of(*NANNING, 8)


def url_of(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


@pytest.fixture(scope="module")
def client(built_sample_store: Engine) -> Iterator[TestClient]:
    app = create_app(Settings(database_url=url_of(built_sample_store)))
    with TestClient(app, headers=account_headers(built_sample_store)) as c:
        yield c


def decode(data: bytes) -> dict:
    return mapbox_vector_tile.decode(data, default_options={"y_coord_down": True})


def test_hexagon_tile_holds_the_layers_cells_and_counts(
    client: TestClient, built_sample_store: Engine
) -> None:
    response = client.get(f"/tiles/hexagons/{Z}/{X}/{Y}.mvt")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    features = decode(response.content)["hexagons"]["features"]
    frame, _ = load_layer(built_sample_store, "hexagons", Filters())
    inside = frame[frame.intersects(shapely.box(*tile_bounds_lonlat(Z, X, Y)))]
    assert len(inside) > 50
    by_h3 = {f["properties"]["h3"]: f for f in features}
    assert set(inside["h3"]) <= set(by_h3)
    for _, row in inside.iterrows():
        props = by_h3[row["h3"]]["properties"]
        assert props["cases"] == row["cases"] and props["resolution"] == 8
        assert by_h3[row["h3"]]["id"] == int(row["h3"], 16)


@pytest.mark.parametrize("layer", COLLECTIONS)
def test_every_layer_has_vector_and_geojson_tiles(client: TestClient, layer: str) -> None:
    z, x, y = tile_of(*NANNING, 7)
    mvt = client.get(f"/tiles/{layer}/{z}/{x}/{y}.mvt")
    assert mvt.status_code == 200, mvt.text
    features = decode(mvt.content)[layer]["features"]
    doc = client.get(f"/tiles/{layer}/{z}/{x}/{y}.geojson")
    assert doc.headers["content-type"] == "application/geo+json"
    collection = doc.json()
    # the same features, but for slivers at the buffer's edge that vanish in tile units
    assert 0 < len(features) <= len(collection["features"]) <= 1.01 * len(features) + 2
    west, south, east, north = tile_bounds_lonlat(z, x, y)
    pad = (east - west) * 64 / 4096
    for feature in collection["features"][:200]:
        w, s, e, n = shapely.geometry.shape(feature["geometry"]).bounds
        assert w >= west - 1.01 * pad and e <= east + 1.01 * pad
        assert s >= south - 1.01 * pad and n <= north + 1.01 * pad
    assert "description" not in features[0]["properties"]  # long texts stay out of MVT


def test_layer_parameters_choose_the_build(client: TestClient) -> None:
    features = decode(client.get(f"/tiles/hexagons/{Z}/{X}/{Y}.mvt?resolution=7").content)
    assert {f["properties"]["resolution"] for f in features["hexagons"]["features"]} == {7}
    county = client.get(f"/tiles/hotspots/{Z}/{X}/{Y}.mvt?unit=county").content
    assert {"adcode", "gi_bin"} <= set(decode(county)["hotspots"]["features"][0]["properties"])
    nanning = decode(client.get(f"/tiles/cases/{Z}/{X}/{Y}.mvt?jurisdiction=450100").content)
    everywhere = decode(client.get(f"/tiles/cases/{Z}/{X}/{Y}.mvt").content)
    cities = {f["properties"]["city_adcode"] for f in nanning["cases"]["features"]}
    assert cities == {"450100"}
    assert len(nanning["cases"]["features"]) < len(everywhere["cases"]["features"])


@pytest.mark.parametrize(
    "path, status, code",
    [
        (f"/tiles/hexagons/{Z}/{X}/{Y}.mvt?resolution=11", 400, "bad_filter"),
        (f"/tiles/hexagons/{Z}/{X}/{Y}.mvt?resolution=eight", 400, "bad_filter"),
        (f"/tiles/hotspots/{Z}/{X}/{Y}.mvt?resolution=9", 400, "bad_filter"),
        (f"/tiles/cases/{Z}/{X}/{Y}.mvt?resolution=8", 400, "bad_filter"),
        (f"/tiles/cases/{Z}/{X}/{Y}.mvt?start=2024-13-01", 400, "bad_filter"),
        (f"/tiles/cases/{Z}/{X}/{Y}.mvt?period=2024-Q5", 400, "bad_filter"),
        (f"/tiles/cases/{Z}/{X}/{Y}.mvt?jurisdiction=999999", 400, "bad_filter"),
        ("/tiles/kde/8/1/1.png?kernel=box", 400, "bad_filter"),
        ("/tiles/kde/8/1/1.png?bandwidth_m=2000", 400, "bad_filter"),
        ("/tiles/hexagons/23/0/0.mvt", 400, "bad_tile"),
        ("/tiles/hexagons/3/8/0.mvt", 400, "bad_tile"),
        ("/tiles/hexagons/3/0/8.geojson", 400, "bad_tile"),
        ("/tiles/hexagons/-1/0/0.mvt", 400, "bad_tile"),
        ("/tiles/hexagons/a/b/c.mvt", 400, "bad_tile"),
        ("/tiles/kde/3/9/0.png", 400, "bad_tile"),
        ("/tiles/rivers/3/0/0.mvt", 404, "unknown_layer"),
        ("/tiles/hexagons/3/0/0.png", 404, "unknown_layer"),
        ("/tiles/hexagons/3/0/0.pdf", 404, "unknown_layer"),
        ("/tiles/kde/3/0/0.mvt", 404, "unknown_layer"),
        ("/tiles/rivers/tilejson.json", 404, "unknown_layer"),
        ("/tiles/kde/legend.svg", 404, "unknown_layer"),
    ],
)
def test_bad_requests_are_json_errors(
    client: TestClient, path: str, status: int, code: str
) -> None:
    response = client.get(path)
    assert response.status_code == status
    assert response.json()["code"] == code and response.json()["description"]


def test_empty_tiles_are_204(client: TestClient) -> None:
    response = client.get("/tiles/hexagons/8/0/0.mvt")
    assert response.status_code == 204 and response.content == b""
    assert client.get("/tiles/kde/8/0/0.png").status_code == 204


def test_caching_headers_etag_and_gzip(client: TestClient) -> None:
    path = f"/tiles/hexagons/{Z}/{X}/{Y}.mvt"
    plain = client.get(path, headers={"Accept-Encoding": "identity"})
    assert plain.headers["cache-control"].startswith("public, max-age=")
    assert "content-encoding" not in plain.headers
    etag = plain.headers["etag"]
    assert etag.startswith('"') and not etag.startswith("W/")
    packed = client.get(path, headers={"Accept-Encoding": "gzip"})
    assert packed.headers["content-encoding"] == "gzip"
    assert packed.content == plain.content  # httpx has undone the gzip
    assert packed.headers["etag"] != etag and "accept-encoding" in packed.headers["vary"].lower()
    again = client.get(path, headers={"If-None-Match": etag, "Accept-Encoding": "identity"})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    other = client.get(path, headers={"If-None-Match": '"something-else"'})
    assert other.status_code == 200
    records = client.get(f"/tiles/cases/{Z}/{X}/{Y}.mvt")
    assert records.headers["cache-control"].startswith("private")  # point records


def test_small_vector_tiles_are_compressed_too(client: TestClient) -> None:
    z, x, y = tile_of(*NANNING, 12)
    raw = client.get(f"/tiles/cases/{z}/{x}/{y}.mvt", headers={"Accept-Encoding": "gzip"})
    assert raw.status_code == 200 and raw.headers["content-encoding"] == "gzip"
    stream = client.stream(
        "GET", f"/tiles/cases/{z}/{x}/{y}.mvt", headers={"Accept-Encoding": "gzip"}
    )
    with stream as response:
        body = b"".join(response.iter_raw())
    assert gzip.decompress(body) == raw.content


def test_tilejson_keeps_the_filters_and_says_how_the_layer_was_made(client: TestClient) -> None:
    response = client.get("/tiles/hexagons/tilejson.json?resolution=7&jurisdiction=450100")
    doc = response.json()
    assert doc["tilejson"] == "3.0.0"
    assert doc["tiles"] == [
        "http://testserver/tiles/hexagons/{z}/{x}/{y}.mvt?resolution=7&jurisdiction=450100"
    ]
    west, south, east, north = doc["bounds"]
    assert 107 < west < east < 110 and 22 < south < north < 24.5  # Nanning's cells
    fields = doc["vector_layers"][0]["fields"]
    assert doc["vector_layers"][0]["id"] == "hexagons"
    assert fields["cases"].startswith("Number") and fields["h3"].startswith("String")
    assert doc["provenance"]["parameters"]["resolution"] == 7
    assert doc["provenance"]["filters"] == {"jurisdiction": "450100"}
    assert isinstance(doc["provenance"]["data_version"], int)
    assert client.get(doc["tiles"][0].format(z=Z, x=X, y=Y)).status_code == 200
    revalidated = client.get(
        "/tiles/hexagons/tilejson.json?resolution=7&jurisdiction=450100",
        headers={"If-None-Match": response.headers["etag"]},
    )
    assert revalidated.status_code == 304


def test_heat_tiles_legend_and_tilejson(client: TestClient) -> None:
    response = client.get(f"/tiles/kde/{Z}/{X}/{Y}.png")
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(response.content))
    assert image.size == (256, 256) and image.mode == "RGBA"
    alpha = np.asarray(image)[..., 3]
    assert alpha.any() and not alpha.all()  # densities shown, ~0 transparent
    legend = client.get("/tiles/kde/legend.json").json()
    assert legend["units"] == "cases per km²" and legend["breaks"] == sorted(legend["breaks"])
    assert len(legend["colours"]) == len(legend["breaks"]) == 8
    assert legend["provenance"]["parameters"]["kernel"] == "quartic"
    weighted = client.get("/tiles/kde/legend.json?weight=penalty_amount").json()
    assert weighted["units"] == "yuan per km²" and weighted["breaks"][0] > legend["breaks"][-1]
    assert "件/平方公里" in legend["title"] and "元/平方公里" in weighted["title"]
    assert Image.open(io.BytesIO(client.get("/tiles/kde/legend.png").content)).format == "PNG"
    doc = client.get("/tiles/kde/tilejson.json?weight=penalty_amount").json()
    assert doc["tiles"] == ["http://testserver/tiles/kde/{z}/{x}/{y}.png?weight=penalty_amount"]
    assert "vector_layers" not in doc and doc["legend"].endswith(
        "legend.json?weight=penalty_amount"
    )
    assert doc["provenance"]["parameters"]["weight"] == "penalty_amount"


def test_heat_tiles_agree_with_the_legend(client: TestClient) -> None:
    legend = client.get("/tiles/kde/legend.json").json()
    colours = {tuple(int(c[i : i + 2], 16) for i in (1, 3, 5)) for c in legend["colours"]}
    pixels = np.asarray(Image.open(io.BytesIO(client.get(f"/tiles/kde/{Z}/{X}/{Y}.png").content)))
    shown = pixels[pixels[..., 3] > 0][:, :3]
    exact = {tuple(p) for p in shown} & colours
    assert exact  # some pixels sit on the classes' colours (flat tops, the peaks)


# ---------------------------------------------------------------- cache and invalidation


CASE_HEADER = "case_id,decision_date,lon,lat,crs,violation_type,penalty_amount\n"


def write_cases(path: Path, first: int, count: int) -> Path:
    rows = [
        f"桂环罚〔2025〕{i}号,2025-03-0{1 + i % 9},{NANNING[0] + 0.01 * i:.5f},"
        f"{NANNING[1]:.5f},WGS84,超标排放,10000\n"
        for i in range(first, first + count)
    ]
    path.write_text(CASE_HEADER + "".join(rows), encoding="utf-8")
    return path


def test_a_new_ingest_makes_new_tiles_appear(sqlite_only_store: Engine, tmp_path: Path) -> None:
    options = IngestOptions(kind="cases", progress=False)
    ingest_file(sqlite_only_store, write_cases(tmp_path / "a.csv", 0, 3), options)
    app = create_app(Settings(database_url=url_of(sqlite_only_store)))
    app.state.tile_service = TileService(app.state.engine, cache_mb=16, version_ttl_s=0.0)
    client = TestClient(app, headers=account_headers(sqlite_only_store))
    path = f"/tiles/cases/{Z}/{X}/{Y}.mvt"
    before = decode(client.get(path).content)["cases"]["features"]
    assert len(before) == 3
    assert len(decode(client.get(path).content)["cases"]["features"]) == 3  # cached
    ingest_file(sqlite_only_store, write_cases(tmp_path / "b.csv", 3, 2), options)
    after = decode(client.get(path).content)["cases"]["features"]
    assert len(after) == 5
    hexagons = decode(client.get(f"/tiles/hexagons/{Z}/{X}/{Y}.mvt").content)
    assert sum(f["properties"]["cases"] for f in hexagons["hexagons"]["features"]) == 5


def test_cached_hits_do_not_ask_the_store_each_time(
    sqlite_only_store: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ingest_file(
        sqlite_only_store,
        write_cases(tmp_path / "a.csv", 0, 3),
        IngestOptions(kind="cases", progress=False),
    )
    app = create_app(Settings(database_url=url_of(sqlite_only_store)))
    client = TestClient(app, headers=account_headers(sqlite_only_store))
    path = f"/tiles/cases/{Z}/{X}/{Y}.mvt"
    assert client.get(path).status_code == 200
    asked: list[int] = []
    import geo_service.api.tile_cache as tile_cache

    real = tile_cache.data_version
    monkeypatch.setattr(tile_cache, "data_version", lambda e: asked.append(1) or real(e))
    for _ in range(20):
        assert client.get(path).status_code == 200
    assert len(asked) <= 1  # at most once in the version's time to live (1 s)
    service = app.state.tile_service
    assert service.version_ttl_s == 1.0 and service.tiles.max_bytes == 256 * 2**20


def test_the_tile_cache_stays_within_its_bound() -> None:
    cache = TileLru(max_bytes=10_000)
    tiles = [CachedTile.of(bytes([i]) * 3000, "x") for i in range(5)]
    for i, tile in enumerate(tiles):
        cache.put(i, tile)
        assert cache.n_bytes <= 10_000
    assert cache.get(0) is None and cache.get(4) is tiles[4]  # oldest out first
    cache.get(2)
    cache.put(5, CachedTile.of(b"y" * 3000, "x"))
    assert cache.get(2) is not None and cache.get(3) is None  # recently used kept
    cache.put(6, CachedTile.of(b"z" * 20_000, "x"))  # larger than the bound: not kept
    assert cache.get(6) is None


def test_a_layer_is_prepared_once_for_concurrent_tiles() -> None:
    import threading
    import time

    prepared = Prepared(max_items=2)
    builds: list[int] = []

    def build() -> str:
        builds.append(1)
        time.sleep(0.05)
        return "layer"

    threads = [threading.Thread(target=prepared.get, args=("k", build)) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(builds) == 1 and prepared.get("k", build) == "layer"


def test_a_zero_cache_still_serves(sqlite_only_store: Engine, tmp_path: Path) -> None:
    ingest_file(
        sqlite_only_store,
        write_cases(tmp_path / "a.csv", 0, 2),
        IngestOptions(kind="cases", progress=False),
    )
    settings = Settings(database_url=url_of(sqlite_only_store), tile_cache_mb=0)
    client = TestClient(create_app(settings), headers=account_headers(sqlite_only_store))
    for _ in range(2):
        response = client.get(f"/tiles/cases/{Z}/{X}/{Y}.geojson")
        assert response.status_code == 200 and len(response.json()["features"]) == 2
        assert json.loads(response.content)["features"][0]["id"].startswith("桂环罚")


def test_openapi_documents_the_tile_query_parameters(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    vector = paths["/tiles/{layer}/{z}/{x}/{y}.{fmt}"]["get"]
    names = {p["name"] for p in vector["parameters"]}
    assert {"layer", "z", "x", "y", "fmt", "jurisdiction", "period", "resolution"} <= names
    kde = {p["name"] for p in paths["/tiles/kde/{z}/{x}/{y}.png"]["get"]["parameters"]}
    assert {"bandwidth_m", "kernel", "weight", "start"} <= kde and "resolution" not in kde
