"""OGC API - Tiles: tile matrix sets, tile sets of every collection, their tiles (the
``/tiles/…`` ones, same scope and disclosure), Mapbox GL styles, the audit's counts,
GDAL's OGCAPI driver opening a tile set on the live server, and Debian's GDAL 3.6
(``/usr/bin/ogrinfo``) reading the live tiles with the tile set as their metadata."""

from __future__ import annotations

import json
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import mapbox_vector_tile
import morecantile
import pyogrio
import pytest
from fastapi.testclient import TestClient
from pyproj import Transformer
from sqlalchemy import Engine, text

from geo_service.api.app import create_app
from geo_service.api.features import COLLECTIONS
from geo_service.api.tile_links import CONFORMANCE
from geo_service.core.settings import Settings
from tests.conftest import LiveServer, account_headers
from tests.geo_service.api.test_tiles_api import NANNING, tile_of

Z, X, Y = tile_of(*NANNING, 8)
TMS = "WebMercatorQuad"


@pytest.fixture(scope="module")
def client(built_sample_store: Engine) -> Iterator[TestClient]:
    url = built_sample_store.url.render_as_string(hide_password=False)
    app = create_app(Settings(database_url=url))
    with TestClient(app, headers=account_headers(built_sample_store)) as c:
        yield c


ANONYMOUS = {"Authorization": ""}


def test_conformance_declares_tiles(client: TestClient) -> None:
    declared = set(client.get("/conformance").json()["conformsTo"])
    assert set(CONFORMANCE) <= declared
    assert "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/core" in declared


def test_tile_matrix_sets_come_from_morecantile(client: TestClient) -> None:
    listed = client.get("/tileMatrixSets").json()["tileMatrixSets"]
    assert [t["id"] for t in listed] == [TMS]
    assert listed[0]["crs"] == "http://www.opengis.net/def/crs/EPSG/0/3857"
    assert listed[0]["links"][0]["href"].endswith(f"/tileMatrixSets/{TMS}")
    doc = client.get(f"/tileMatrixSets/{TMS}").json()
    v2 = morecantile.tms.get(TMS).model_dump(mode="json", exclude_none=True)
    assert {k: doc[k] for k in v2} == v2  # TMS 2.0 as morecantile writes it
    v1 = doc["tileMatrix"][8]  # and the 1.0 encoding GDAL 3.6 reads
    assert v1["identifier"] == "8" and v1["matrixWidth"] == 256
    assert v1["topLeftCorner"] == v2["tileMatrices"][8]["pointOfOrigin"]
    assert doc["crs"].endswith("EPSG/0/3857") and len(doc["tileMatrices"]) == 25
    assert client.get("/tileMatrixSets/WorldCRS84Quad").status_code == 404


@pytest.mark.parametrize("collection", COLLECTIONS)
def test_every_collection_links_its_vector_tile_sets(client: TestClient, collection: str) -> None:
    links = client.get(f"/collections/{collection}").json()["links"]
    rel = "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector"
    (tiles,) = [link for link in links if link["rel"] == rel]
    assert tiles["href"].endswith(f"/collections/{collection}/tiles")
    tilesets = client.get(tiles["href"]).json()["tilesets"]
    assert [(t["dataType"], t["tileMatrixSetURI"], t["crs"]) for t in tilesets] == [
        ("vector", morecantile.tms.get(TMS).uri, "http://www.opengis.net/def/crs/EPSG/0/3857")
    ]


def test_tile_set_metadata_names_the_template_layer_and_fields(client: TestClient) -> None:
    doc = client.get(f"/collections/hexagons/tiles/{TMS}?jurisdiction=450100").json()
    assert doc["dataType"] == "vector" and doc["tileMatrixSetURI"].endswith(TMS)
    items = {link["type"]: link["href"] for link in doc["links"] if link["rel"] == "item"}
    mvt = items["application/vnd.mapbox-vector-tile"]
    assert "/collections/hexagons/tiles/WebMercatorQuad/{tileMatrix}/{tileRow}/{tileCol}" in mvt
    assert "f=mvt" in mvt and "jurisdiction=450100" in mvt  # the filters carried along
    scheme = [link for link in doc["links"] if link["rel"].endswith("tiling-scheme")]
    assert scheme[0]["href"].endswith(f"/tileMatrixSets/{TMS}")
    (layer,) = doc["layers"]
    assert layer["id"] == "hexagons" and layer["geometryDimension"] == 2
    assert layer["propertiesSchema"]["properties"]["cases"]["type"] == "number"
    assert "案件数" in layer["propertiesSchema"]["properties"]["cases"]["description"]
    # tippecanoe's metadata members, for GDAL's MVT driver (GDAL 3.6: docs/gis.md)
    west, south, east, north = (float(v) for v in doc["bounds"].split(","))
    assert [west, south] == doc["boundingBox"]["lowerLeft"]
    assert [east, north] == doc["boundingBox"]["upperRight"]
    meta = json.loads(doc["json"])
    (fields,) = [v["fields"] for v in meta["vector_layers"] if v["id"] == "hexagons"]
    assert fields["cases"] == "Number" and fields["h3"] == "String"
    assert meta["tilestats"]["layers"] == [{"layer": "hexagons", "geometry": "Polygon"}]
    cases = client.get(f"/collections/cases/tiles/{TMS}").json()
    assert json.loads(cases["json"])["tilestats"]["layers"][0]["geometry"] == "Point"
    assert "json" not in client.get(f"/collections/kde/tiles/{TMS}").json()  # PNG: no MVT
    limits = {lim["tileMatrix"]: lim for lim in doc["tileMatrixSetLimits"]}
    at_8 = limits["8"]
    assert at_8["minTileCol"] <= X <= at_8["maxTileCol"]
    assert at_8["minTileRow"] <= Y <= at_8["maxTileRow"]


def test_a_tile_of_the_tile_set_is_the_tiles_routes_tile(client: TestClient) -> None:
    for layer in ("hexagons", "cases", "hotspots"):
        ogc = client.get(f"/collections/{layer}/tiles/{TMS}/{Z}/{Y}/{X}")
        plain = client.get(f"/tiles/{layer}/{Z}/{X}/{Y}.mvt")
        assert ogc.status_code == plain.status_code == 200
        assert ogc.headers["content-type"] == "application/vnd.mapbox-vector-tile"
        assert ogc.content == plain.content
        decoded = mapbox_vector_tile.decode(ogc.content)
        assert len(decoded[layer]["features"]) > 0
    geojson = client.get(f"/collections/cases/tiles/{TMS}/{Z}/{Y}/{X}?f=geojson")
    assert geojson.json() == client.get(f"/tiles/cases/{Z}/{X}/{Y}.geojson").json()
    png = client.get(f"/collections/kde/tiles/{TMS}/{Z}/{Y}/{X}")
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
    assert png.content == client.get(f"/tiles/kde/{Z}/{X}/{Y}.png").content


def test_bad_tiles_and_formats_are_refused(client: TestClient) -> None:
    base = f"/collections/hexagons/tiles/{TMS}"
    assert client.get(f"{base}/8/999/0").status_code == 400  # row beyond 2^8
    assert client.get(f"{base}/{Z}/{Y}/{X}?f=png").status_code == 404
    assert client.get(f"/collections/nope/tiles/{TMS}").status_code == 404
    assert client.get(f"/collections/hexagons/tiles/WorldCRS84Quad/{Z}/{Y}/{X}").status_code == 404
    assert client.get(f"{base}/{Z}/{Y}/{X}?bandwidth=3").status_code == 400  # not hexagons'


def test_anonymous_callers_get_the_public_view_and_no_records(client: TestClient) -> None:
    public = client.get(f"/collections/hexagons/tiles/{TMS}/{Z}/{Y}/{X}", headers=ANONYMOUS)
    assert public.status_code == 200
    assert (
        public.content == client.get(f"/tiles/hexagons/{Z}/{X}/{Y}.mvt", headers=ANONYMOUS).content
    )
    for path in (
        f"/collections/cases/tiles/{TMS}/{Z}/{Y}/{X}",
        f"/collections/cases/tiles/{TMS}",
        "/collections/cases/tiles",
        "/styles/cases.json",
    ):
        assert client.get(path, headers=ANONYMOUS).status_code == 401, path


def test_tile_audit_entries_count_the_features(
    client: TestClient, built_sample_store: Engine
) -> None:
    path = f"/collections/cases/tiles/{TMS}/{Z}/{Y}/{X}"
    answer = client.get(path, params={"jurisdiction": "450102"})
    features = len(mapbox_vector_tile.decode(answer.content)["cases"]["features"])
    client.app.state.audit_log.flush()  # type: ignore[attr-defined]
    with built_sample_store.connect() as conn:
        records = conn.execute(
            text(
                "SELECT records FROM audit_log WHERE action = 'tile' AND resource = :path"
                " ORDER BY id DESC LIMIT 1"
            ),
            {"path": path},
        ).scalar_one()
    assert records == features > 0


def test_styles_draw_the_layers_in_the_maps_colours(client: TestClient) -> None:
    style = client.get("/styles/hotspots.json?jurisdiction=450100")
    assert style.headers["content-type"].startswith("application/vnd.mapbox.style+json")
    doc = style.json()
    assert doc["version"] == 8
    (source,) = doc["sources"].values()
    assert source["type"] == "vector" and "/tiles/hotspots/{z}/{x}/{y}.mvt" in source["tiles"][0]
    assert "jurisdiction=450100" in source["tiles"][0]
    fill = next(layer for layer in doc["layers"] if layer["type"] == "fill")
    colours = fill["paint"]["fill-color"]
    assert colours[:4] == ["match", ["get", "gi_bin"], 3, "#d62f27"]  # the hot-spot map's red
    assert {layer["source-layer"] for layer in doc["layers"]} == {"hotspots"}
    assert client.get("/styles/kde.json").status_code == 404
    tileset = client.get(f"/collections/hotspots/tiles/{TMS}").json()
    assert any(link["rel"] == "stylesheet" for link in tileset["links"])


# ---------------------------------------------------------------- GDAL's OGCAPI driver


@pytest.fixture
def gdal_key(live_server: LiveServer) -> Iterator[None]:
    pyogrio.set_gdal_config_options(
        {"GDAL_HTTP_AUTH": "BEARER", "GDAL_HTTP_BEARER": live_server.api_key}
    )
    yield
    pyogrio.set_gdal_config_options({"GDAL_HTTP_AUTH": None, "GDAL_HTTP_BEARER": None})


def mercator_box(bbox: list[float]) -> dict[str, str]:
    """GDAL's OGCAPI driver compares the collection's CRS84 extent with the tile matrix
    set's Web Mercator origin; in the tile set's CRS (open options MINX…MAXY) it is right."""
    to_3857 = Transformer.from_crs("OGC:CRS84", "EPSG:3857", always_xy=True)
    west, south, east, north = bbox
    minx, miny, maxx, maxy = to_3857.transform_bounds(west, south, east, north)
    return {"MINX": str(minx), "MINY": str(miny), "MAXX": str(maxx), "MAXY": str(maxy)}


@pytest.mark.slow
def test_gdal_opens_the_tile_set_of_a_collection(live_server: LiveServer, gdal_key: None) -> None:
    source = f"OGCAPI:{live_server.url}/collections/hexagons"
    with urllib.request.urlopen(f"{live_server.url}/collections/hexagons") as answer:
        bbox = json.load(answer)["extent"]["spatial"]["bbox"][0]
    box = mercator_box(bbox)
    assert pyogrio.read_info(source, layer="Zoom level 14", **box)["crs"].endswith("3857")
    info = pyogrio.read_info(source, layer="Zoom level 8", **box)
    assert info["crs"].endswith("3857")
    frame = pyogrio.read_dataframe(source, layer="Zoom level 8", **box)
    assert len(frame) > 0 and "cases" in frame.columns
    assert frame.crs.to_epsg() == 3857
    assert frame["h3"].nunique() > 10  # the hexagons of the tiles over the extent


# ------------------------------------------ Debian's GDAL 3.6 (/usr/bin/ogrinfo, ogr2ogr)

GDAL36 = Path("/usr/bin/ogrinfo")


@pytest.fixture
def gdal36() -> Path:
    """Debian 12's ``ogrinfo`` (GDAL 3.6); skipped, saying why, where it is not installed."""
    if not GDAL36.exists():
        reason = f"{GDAL36} (Debian's gdal-bin, GDAL 3.6) is not installed"
        print(reason)
        pytest.skip(reason)
    return GDAL36


def gdal36_config(live_server: LiveServer) -> list[str]:
    """The documented GDAL 3.6 options: HTTP Basic with the key as password (3.6 has no
    bearer option) and 4 MB ``/vsicurl/`` reads (the tiles answer whole, not by ranges)."""
    options = {
        "GDAL_HTTP_AUTH": "BASIC",
        "GDAL_HTTP_USERPWD": f"gis:{live_server.api_key}",
        "CPL_VSIL_CURL_CHUNK_SIZE": "4194304",
    }
    return [arg for name, value in options.items() for arg in ("--config", name, value)]


def mvt_source(live_server: LiveServer, layer: str, zoom: int) -> list[str]:
    """GDAL's MVT driver over ``/tiles/{layer}/{zoom}/{x}/{y}.mvt``, with the OGC API
    tile set as its ``metadata.json`` (fields, geometry type, bounds)."""
    tileset = f"{live_server.url}/collections/{layer}/tiles/{TMS}"
    return [
        f"MVT:/vsicurl/{live_server.url}/tiles/{layer}/{zoom}",
        "-oo",
        "TILE_EXTENSION=mvt",
        "-oo",
        f"METADATA_FILE=/vsicurl/{tileset}",
    ]


def _run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, check=False)


@pytest.mark.slow
def test_gdal36_reads_the_live_tiles_with_the_tile_set_as_metadata(
    live_server: LiveServer, gdal36: Path, tmp_path: Path
) -> None:
    """Debian's GDAL 3.6 lists the layer of the zoom-8 tiles (fields and geometry type
    from the tile set) and reads every hexagon of the collection from them."""
    config = gdal36_config(live_server)
    listing = _run(gdal36, "-ro", *config, *mvt_source(live_server, "hexagons", 8))
    assert listing.returncode == 0, listing.stderr[-2000:]
    assert "1: hexagons (Multi Polygon)" in listing.stdout
    summary = _run(
        gdal36, "-ro", "-so", *config, *mvt_source(live_server, "hexagons", 8), "hexagons"
    )
    assert summary.returncode == 0, summary.stderr[-2000:]
    assert "cases: Real" in summary.stdout and "h3: String" in summary.stdout
    counted = [line for line in summary.stdout.splitlines() if line.startswith("Feature Count:")]
    assert int(counted[0].split(":")[1]) > 0
    out = tmp_path / "hexagons_z8.geojson"
    ogr2ogr = gdal36.with_name("ogr2ogr")
    converted = _run(
        ogr2ogr, *config, "-f", "GeoJSON", out, *mvt_source(live_server, "hexagons", 8), "hexagons"
    )
    assert converted.returncode == 0, converted.stderr[-2000:]
    features = json.loads(out.read_text("utf-8"))["features"]
    request = urllib.request.Request(
        f"{live_server.url}/collections/hexagons/items?limit=1", headers=live_server.headers
    )
    with urllib.request.urlopen(request) as answer:
        matched = json.load(answer)["numberMatched"]
    # a hexagon crossing a tile edge comes once per tile: the cells are the collection's
    assert len({f["properties"]["h3"] for f in features}) == matched > 100
    assert all(f["geometry"]["type"] in ("Polygon", "MultiPolygon") for f in features)
    points = _run(gdal36, "-ro", "-so", *config, *mvt_source(live_server, "cases", 8), "cases")
    assert points.returncode == 0, points.stderr[-2000:]
    assert "Geometry: Multi Point" in points.stdout and "penalty_amount: Real" in points.stdout


@pytest.mark.slow
def test_gdal36_ogcapi_driver_reads_the_tile_set_but_has_no_vector_tiles(
    live_server: LiveServer, gdal36: Path
) -> None:
    """Debian's GDAL 3.6.2 follows every document of the tile set (collection, tile sets,
    tile set, tiling scheme) and opens nothing: that build leaves the OGCAPI driver's
    vector tile code out (docs/gis.md says why). When a GDAL 3.6 build opens it, this
    fails: then point docs/gis.md's GDAL 3.6 recipe at the OGCAPI driver again."""
    version = _run(gdal36, "--version").stdout
    if not version.startswith("GDAL 3.6."):
        pytest.skip(f"{gdal36} is {version.strip()}, not GDAL 3.6")
    with urllib.request.urlopen(f"{live_server.url}/collections/hexagons") as answer:
        bbox = json.load(answer)["extent"]["spatial"]["bbox"][0]
    box = [f"{k}={v}" for k, v in mercator_box(bbox).items()]
    log = live_server.log
    logged = len(log.read_text("utf-8")) if log else 0
    source = f"OGCAPI:{live_server.url}/collections/hexagons"
    opened = _run(gdal36, "-ro", *gdal36_config(live_server), source, *_open_options(box))
    asked = log.read_text("utf-8")[logged:] if log else ""
    for path in (
        "/collections/hexagons ",
        "/collections/hexagons/tiles ",
        f"/collections/hexagons/tiles/{TMS} ",
        f"/tileMatrixSets/{TMS} ",
    ):
        assert f'GET {path}HTTP/1.1" 200' in asked, path
    assert opened.returncode != 0 and "Zoom level" not in opened.stdout


def _open_options(options: list[str]) -> list[str]:
    return [arg for option in options for arg in ("-oo", option)]
