"""Downloads over HTTP: every layer in every format read back, the KDE GeoTIFF, and the QGIS
project whose every data source answers (and, where QGIS is installed, opens in QGIS)."""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import math
import os
import sqlite3
import subprocess
import tempfile
import urllib.request
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import rasterio
import rasterio.transform
import shapely
from fastapi.testclient import TestClient
from pyproj import Transformer
from sqlalchemy import Engine, select

from geo_service.api.app import create_app
from geo_service.builds.exports import EXPORTABLE, export_layer, load_layer
from geo_service.builds.run import analytic_layer
from geo_service.core.filters import Filters
from geo_service.core.settings import Settings
from geo_service.store.models import AuditEntry
from geo_service.store.queries import data_version, read_jurisdictions
from layers.rasters import NODATA
from tests.conftest import LiveServer, account_headers
from tests.layers.test_qgis import oapif_url, tile_url

VECTOR_FORMATS = ("geojson", "gpkg", "csv", "xlsx")
#: Debian's GDAL 3.6 command-line tools (the GDAL QGIS 3.22 runs on).
GDALINFO_36, OGRINFO_36 = "/usr/bin/gdalinfo", "/usr/bin/ogrinfo"
GUANGXI = (104.4, 20.8, 112.1, 26.4)
NANNING_2024 = "jurisdiction=450100&period=2024"
NANNING_SINCE_2023 = "jurisdiction=450100&start=2023-01-01"  # some clusters: none is a 500 still


@pytest.fixture(scope="module")
def client(built_sample_store: Engine) -> TestClient:
    url = built_sample_store.url.render_as_string(hide_password=False)
    app = create_app(Settings(database_url=url))
    return TestClient(app, headers=account_headers(built_sample_store))


def _expected_count(engine: Engine, layer: str, filters: Filters) -> int:
    """Features of the layer as the store gives them (kde: its density bands)."""
    if layer == "kde":
        with tempfile.TemporaryDirectory() as folder:
            out = Path(folder) / "kde.gpkg"
            return int(export_layer(engine, "kde", "gpkg", out, filters)["features"])
    frame, _ = load_layer(engine, layer, filters)
    return len(frame)


def _read(fmt: str, content: bytes, tmp_path: Path) -> pd.DataFrame:
    if fmt == "csv":
        return pd.read_csv(io.BytesIO(content), encoding="utf-8-sig")
    if fmt == "xlsx":
        return pd.read_excel(io.BytesIO(content), sheet_name="data")
    path = tmp_path / f"layer.{fmt}"
    path.write_bytes(content)
    # a GeoPackage holds its layer and QGIS's layer_styles: its first layer is the data
    return gpd.read_file(path, engine="pyogrio", layer=0 if fmt == "gpkg" else None)


def _provenance(fmt: str, response: Any, tmp_path: Path) -> dict[str, Any]:
    """How the file says it was made, read from inside it (CSV: the response header)."""
    if fmt == "geojson":
        return dict(response.json()["metadata"])
    if fmt == "gpkg":
        meta = pyogrio.read_info(tmp_path / "layer.gpkg", layer=0)["layer_metadata"]
        return dict(json.loads(meta["provenance"]))
    if fmt == "xlsx":
        sheet = pd.read_excel(io.BytesIO(response.content), sheet_name="metadata")
        return {k: json.loads(v) for k, v in zip(sheet["key"], sheet["value"], strict=True)}
    return dict(json.loads(response.headers["x-provenance"]))


@pytest.mark.parametrize("fmt", VECTOR_FORMATS)
@pytest.mark.parametrize("layer", EXPORTABLE)
def test_every_layer_in_every_format_reads_back_complete(
    client: TestClient, built_sample_store: Engine, tmp_path: Path, layer: str, fmt: str
) -> None:
    response = client.get(f"/downloads/{layer}.{fmt}")
    assert response.status_code == 200, response.text
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment;") and f'filename="{layer}.{fmt}"' in disposition
    table = _read(fmt, response.content, tmp_path)
    assert len(table) == _expected_count(built_sample_store, layer, Filters()) > 0
    if fmt == "gpkg":  # the layer is named after the collection
        assert pyogrio.list_layers(tmp_path / "layer.gpkg")[0, 0] == layer
    meta = _provenance(fmt, response, tmp_path)
    assert meta["layer"] == layer and meta["filters"] == {} and meta["data_version"] >= 3
    if isinstance(table, gpd.GeoDataFrame):
        assert table.crs.to_epsg() == 4326
        west, south, east, north = table.total_bounds
        assert GUANGXI[0] < west <= east < GUANGXI[2] and GUANGXI[1] < south <= north < GUANGXI[3]


def test_media_types(client: TestClient) -> None:
    expected = {
        "geojson": "application/geo+json",
        "gpkg": "application/geopackage+sqlite3",
        "csv": "text/csv; charset=utf-8",
        "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    }
    for fmt, media_type in expected.items():
        assert client.get(f"/downloads/clusters.{fmt}").headers["content-type"] == media_type


def test_geojson_is_rfc7946(client: TestClient) -> None:
    doc = client.get("/downloads/hexagons.geojson").json()
    assert doc["type"] == "FeatureCollection" and "crs" not in doc
    lon, lat = doc["features"][0]["geometry"]["coordinates"][0][0]
    assert GUANGXI[0] < lon < GUANGXI[2] and GUANGXI[1] < lat < GUANGXI[3]  # lon first
    assert doc["metadata"]["parameters"]["resolution"] == 8


def test_filters_change_the_download_as_they_change_the_items(
    client: TestClient, tmp_path: Path
) -> None:
    response = client.get(f"/downloads/cases.gpkg?{NANNING_2024}")
    assert 'filename="cases_450100_2024.gpkg"' in response.headers["content-disposition"]
    cases = _read("gpkg", response.content, tmp_path)
    items = client.get(f"/collections/cases/items?{NANNING_2024}&limit=1").json()
    everything = client.get("/collections/cases/items?limit=1").json()
    assert len(cases) == items["numberMatched"] < everything["numberMatched"]
    assert set(cases["city_adcode"]) == {"450100"}
    assert set(pd.to_datetime(cases["decision_date"]).dt.year) == {2024}
    assert _provenance("gpkg", response, tmp_path)["filters"] == {
        "jurisdiction": "450100",
        "period": "2024",
    }


def test_filtered_analytic_layer_matches_the_store(
    client: TestClient, built_sample_store: Engine
) -> None:
    doc = client.get(f"/downloads/hexagons.geojson?{NANNING_2024}").json()
    filters = Filters(jurisdiction="450100", period="2024")
    stored, _ = load_layer(built_sample_store, "hexagons", filters)
    assert len(doc["features"]) == len(stored)
    assert sum(f["properties"]["cases"] for f in doc["features"]) == int(stored["cases"].sum())
    cases = client.get(f"/collections/cases/items?{NANNING_2024}&limit=1").json()
    assert int(stored["cases"].sum()) == cases["numberMatched"]
    assert doc["metadata"]["filters"] == {"jurisdiction": "450100", "period": "2024"}


def test_layer_parameters_choose_the_build(client: TestClient, tmp_path: Path) -> None:
    response = client.get("/downloads/hexagons.csv?resolution=6")
    assert 'filename="hexagons_resolution-6.csv"' in response.headers["content-disposition"]
    table = _read("csv", response.content, tmp_path)
    assert set(table["resolution"]) == {6}
    finer = _read("csv", client.get("/downloads/hexagons.csv").content, tmp_path)
    assert len(table) < len(finer) and table["cases"].sum() == finer["cases"].sum()
    county = client.get("/downloads/hotspots.geojson?unit=county").json()
    assert county["metadata"]["parameters"]["unit"] == "county"
    assert {"adcode", "gi_bin"} <= set(county["features"][0]["properties"])


def _nodata_outside(dataset: Any, outline: Any) -> tuple[np.ndarray, np.ndarray]:
    """Band 1's cells (every 5th row and column) whose centre is outside/inside ``outline``
    (WGS84): the values of each, cell centres taken to lon/lat by pyproj."""
    values = dataset.read(1)
    rows, cols = np.mgrid[0 : dataset.height : 5, 0 : dataset.width : 5]
    xs, ys = rasterio.transform.xy(dataset.transform, rows.ravel(), cols.ravel())
    to_lonlat = Transformer.from_crs(dataset.crs.to_wkt(), 4326, always_xy=True)
    lon, lat = to_lonlat.transform(np.asarray(xs), np.asarray(ys))
    inside = shapely.contains_xy(outline, lon, lat)
    sampled = values[rows.ravel(), cols.ravel()]
    return sampled[~inside], sampled[inside]


def _outline(engine: Engine, filters: Filters) -> Any:
    divisions = read_jurisdictions(engine, filters)
    top = divisions[~divisions["parent_adcode"].isin(divisions["adcode"])]
    return shapely.union_all(top.geometry.to_numpy())


@pytest.mark.parametrize("query", ["", "?jurisdiction=450100"])
def test_kde_geotiff_names_its_crs_and_is_nodata_outside_the_jurisdiction(
    client: TestClient, built_sample_store: Engine, tmp_path: Path, query: str
) -> None:
    """The download is in EPSG:6933 (gdalinfo 3.6 names it), NoData outside the
    jurisdiction and values inside, its unit on the band and its provenance in the tags."""
    response = client.get(f"/downloads/kde.tif{query}")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/tiff; application=geotiff"
    assert f'filename="kde{query and "_450100"}.tif"' in response.headers["content-disposition"]
    filters = Filters(jurisdiction="450100") if query else Filters()
    with rasterio.open(io.BytesIO(response.content)) as dataset:
        assert dataset.count == 1 and dataset.crs.to_epsg() == 6933
        assert dataset.nodata == NODATA and dataset.units == ("cases per km²",)
        assert "案件核密度（件/平方公里）" in (dataset.descriptions[0] or "")
        tags = dataset.tags()
        outside, inside = _nodata_outside(dataset, _outline(built_sample_store, filters))
    assert len(outside) and (outside == NODATA).all()
    assert len(inside) and (inside != NODATA).all()  # a density: 0 where no case is near
    assert (inside >= 0).all() and inside.max() > 0
    assert tags["kernel"] == "quartic" and float(tags["bandwidth_m"]) > 0
    assert tags["layer"] == "kde" and json.loads(tags["filters"]) == filters.as_dict()
    assert json.loads(tags["data_version"]) >= 3 and tags["units"] == "cases per km²"
    assert json.loads(tags["parameters"])["kernel"] == "quartic"
    assert json.loads(response.headers["x-provenance"])["layer"] == "kde"
    path = tmp_path / "kde.tif"
    path.write_bytes(response.content)
    info = subprocess.run(
        [GDALINFO_36, str(path)], capture_output=True, text=True, check=True
    )  # Debian's GDAL 3.6, as the bureaus' QGIS 3.22 reads it
    assert 'ID["EPSG",6933]' in info.stdout and not info.stderr
    assert "NoData Value=-9999" in info.stdout and "Unit Type: cases per km²" in info.stdout


def test_kde_parameters_reach_the_geotiff(client: TestClient) -> None:
    response = client.get("/downloads/kde.tif?bandwidth_m=8000&kernel=gaussian&cell_m=1000")
    assert response.status_code == 200, response.text
    with rasterio.open(io.BytesIO(response.content)) as dataset:
        tags = dataset.tags()
        assert dataset.res == (1000.0, 1000.0) and dataset.crs.to_epsg() == 6933
    assert tags["kernel"] == "gaussian" and float(tags["bandwidth_m"]) == 8000.0
    name = "kde_kernel-gaussian_bandwidth_m-8000.0_cell_m-1000.0.tif"  # in the layer's order
    assert f'filename="{name}"' in response.headers["content-disposition"]


def _gpkg_path(client: TestClient, url: str, tmp_path: Path) -> Path:
    response = client.get(url)
    assert response.status_code == 200, response.text
    path = tmp_path / "download.gpkg"
    path.write_bytes(response.content)
    return path


def test_gpkg_layer_is_the_collection_with_chinese_field_titles(
    client: TestClient, tmp_path: Path
) -> None:
    """The layer is ``cases``, titled in Chinese, GeoPackage 1.3, its fields' Chinese titles
    in gpkg_data_columns (the schema extension registered) and its provenance inside."""
    path = _gpkg_path(client, f"/downloads/cases.gpkg?{NANNING_2024}", tmp_path)
    assert pyogrio.list_layers(path)[:, 0].tolist() == ["cases", "layer_styles"]
    info = pyogrio.read_info(path, layer="cases")
    assert info["layer_metadata"]["IDENTIFIER"] == "行政处罚案件 Penalty cases"
    assert '"period": "2024"' in info["layer_metadata"]["DESCRIPTION"]
    provenance = json.loads(info["layer_metadata"]["provenance"])
    assert provenance["layer"] == "cases" and provenance["data_version"] >= 3
    with sqlite3.connect(path) as con:
        assert con.execute("PRAGMA user_version").fetchone() == (10300,)
        extensions = con.execute(
            "SELECT table_name, extension_name, scope FROM gpkg_extensions"
        ).fetchall()
    assert ("gpkg_data_columns", "gpkg_schema", "read-write") in extensions
    # the current GDAL reads the titles back as any client would
    titles = pyogrio.read_dataframe(
        path, sql="SELECT column_name, name, title, description FROM gpkg_data_columns"
    ).set_index("column_name")
    assert titles.loc["penalty_amount", "title"] == "罚款金额（元）"
    assert titles.loc["penalty_amount", "description"] == "罚款金额（元）penalty (yuan)"
    assert titles.loc["case_id", "name"] == titles.loc["case_id", "title"] == "案件编号"
    assert set(titles.index) <= set(info["fields"]) and len(titles) >= 8


def test_gdal_36_reads_the_gpkg_without_a_warning(client: TestClient, tmp_path: Path) -> None:
    """Debian's ogrinfo (GDAL 3.6) warns about a GeoPackage 1.4 (a current GDAL's default)
    and not about the downloads, which it reads whole."""
    path = _gpkg_path(client, "/downloads/hotspots.gpkg", tmp_path)
    run = subprocess.run([OGRINFO_36, "-so", str(path), "hotspots"], capture_output=True, text=True)
    assert run.returncode == 0 and run.stderr == "", run.stderr
    features = len(gpd.read_file(path, layer="hotspots", engine="pyogrio"))
    assert "Layer name: hotspots" in run.stdout and f"Feature Count: {features}" in run.stdout
    newest = tmp_path / "default.gpkg"
    gpd.read_file(path, layer="hotspots", engine="pyogrio").to_file(newest, engine="pyogrio")
    warned = subprocess.run([OGRINFO_36, "-so", str(newest)], capture_output=True, text=True)
    assert "(10400, v1.4.0)" in warned.stderr  # what the fix avoids


QGIS_ALIASES = """
import json, sys
from qgis.core import QgsApplication, QgsVectorLayer
app = QgsApplication([], False)
app.initQgis()
layer = QgsVectorLayer(sys.argv[1] + "|layername=cases", "cases", "ogr")
aliases = {f.name(): layer.attributeAlias(i) for i, f in enumerate(layer.fields())}
print(json.dumps({"valid": layer.isValid(), "count": layer.featureCount(), "aliases": aliases}))
"""


def test_qgis_shows_the_chinese_field_aliases(client: TestClient, tmp_path: Path) -> None:
    reason = _qgis_available()
    if reason:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"QGIS (python3-qgis) required under CI=true: {reason}")
        pytest.skip(f"QGIS not installed for {SYSTEM_PYTHON}: {reason}")
    path = _gpkg_path(client, f"/downloads/cases.gpkg?{NANNING_2024}", tmp_path)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_RUNTIME_DIR": str(tmp_path)}
    run = subprocess.run(
        [SYSTEM_PYTHON, "-c", QGIS_ALIASES, str(path)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])
    cases = len(gpd.read_file(path, layer="cases", engine="pyogrio"))
    assert report["valid"] and report["count"] == cases > 0
    assert report["aliases"]["penalty_amount"] == "罚款金额（元）"
    assert report["aliases"]["decision_date"] == "处罚决定日期"


def _audited(engine: Engine, resource: str) -> list[int | None]:
    with engine.connect() as conn:
        rows = conn.execute(select(AuditEntry.records).where(AuditEntry.resource == resource)).all()
    return [r[0] for r in rows]


@pytest.mark.parametrize("fmt", VECTOR_FORMATS)
def test_audit_log_records_the_rows_of_every_download(
    client: TestClient, built_sample_store: Engine, tmp_path: Path, fmt: str
) -> None:
    """Every download of records is audited with the number of rows it carried (CSV was
    recorded with none)."""
    resource = f"/downloads/inspections.{fmt}"
    before = len(_audited(built_sample_store, resource))
    response = client.get(f"{resource}?{NANNING_2024}")
    assert response.status_code == 200
    rows = len(_read(fmt, response.content, tmp_path))
    assert rows > 0 and _audited(built_sample_store, resource)[before:] == [rows]


def test_downloads_leave_no_files_behind(
    client: TestClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    for url in ("/downloads/cases.csv?period=2024", "/downloads/kde.tif", "/downloads/nope.csv"):
        client.get(url)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("/downloads/parcels.geojson", 404),
        ("/downloads/cases.shp", 404),
        ("/downloads/cases.tif", 400),
        ("/downloads/hexagons.tif", 400),
        ("/downloads/hexagons.gpkg?resolution=12", 400),
        ("/downloads/hexagons.gpkg?resolution=eight", 400),
        ("/downloads/cases.csv?resolution=8", 400),
        ("/downloads/kde.tif?kernel=box", 400),
        ("/downloads/kde.tif?cell_m=5", 400),
        ("/downloads/kde.tif?bandwidth_m=-1", 400),
        ("/downloads/hotspots.csv?unit=village", 400),
        ("/downloads/cases.csv?start=yesterday", 400),
        ("/downloads/cases.csv?jurisdiction=45", 400),
        ("/downloads/cases.csv?jurisdiction=990000", 400),
        ("/downloads/cases.csv?period=2024-13", 400),
        ("/downloads/project.qgs?jurisdiction=990000", 400),
        ("/downloads/project.qgs?start=2024-02-30", 400),
    ],
)
def test_bad_requests_get_a_json_reason(client: TestClient, url: str, status: int) -> None:
    response = client.get(url)
    assert response.status_code == status
    body = response.json()
    assert body["code"] and body["description"]


# --- the QGIS project -------------------------------------------------------------------


def _sources(xml: str) -> dict[str, tuple[str, str]]:
    """Layer name → (provider, data source) of a project."""
    root = ET.fromstring(xml)
    return {
        m.findtext("layername", ""): (m.findtext("provider", ""), m.findtext("datasource", ""))
        for m in root.iter("maplayer")
    }


def _lonlat_to_tile(lon: float, lat: float, zoom: int) -> tuple[int, int]:
    n = 2**zoom
    y = (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n
    return int((lon + 180) / 360 * n), int(y)


def _busiest_tile(engine: Engine, filters: Filters, zoom: int) -> tuple[int, int]:
    hexagons, _ = load_layer(engine, "hexagons", filters)
    centre = hexagons.loc[hexagons["cases"].idxmax()].geometry.centroid
    return _lonlat_to_tile(centre.x, centre.y, zoom)


def _has_tile_routes(app: Any) -> bool:
    return any(path.startswith("/tiles/") for path in app.openapi()["paths"])


def test_project_sources_all_answer_with_the_filters(
    client: TestClient, built_sample_store: Engine
) -> None:
    response = client.get(f"/downloads/project.qgs?{NANNING_SINCE_2023}")
    assert response.status_code == 200
    assert 'filename="project_450100_2023-01-01.qgs"' in response.headers["content-disposition"]
    filters = Filters(jurisdiction="450100", start=dt.date(2023, 1, 1))
    tiles = []
    for name, (provider, source) in _sources(response.text).items():
        if provider == "OAPIF":
            landing, collection = oapif_url(source)
            assert urlsplit(landing).netloc == "testserver"  # the host the request came to
            assert client.get(landing).status_code == 200
            assert client.get(landing.replace("/?", f"/collections/{collection}?")).is_success
            items = client.get(landing.replace("/?", f"/collections/{collection}/items?"))
            matched = items.json()["numberMatched"]
            assert matched == _expected_count(built_sample_store, collection, filters), name
        elif provider == "gdal":  # the KDE GeoTIFF, read by GDAL
            tif = client.get(source.removeprefix("/vsicurl/").split(" authcfg=")[0])
            assert tif.status_code == 200 and tif.content.startswith(b"II*\x00")
            assert json.loads(tif.headers["x-provenance"])["filters"] == filters.as_dict()
        else:
            tiles.append(tile_url(source))
    assert len(tiles) == 4 and all(t.endswith(f"?{NANNING_SINCE_2023}") for t in tiles)
    if not _has_tile_routes(client.app):
        pytest.skip("the /tiles routes are not in the app yet: tile sources not fetched")
    x, y = _busiest_tile(built_sample_store, filters, 10)
    for template in tiles:
        tile = client.get(template.format(z=10, x=x, y=y))
        assert tile.status_code == 200 and tile.content, template


def test_project_frames_the_filtered_jurisdiction(client: TestClient) -> None:
    root = ET.fromstring(client.get("/downloads/project.qgs?jurisdiction=450100").text)
    view = root.find("ProjectViewSettings/DefaultViewExtent")
    assert view is not None and root.findtext("projectCrs/spatialrefsys/authid") == "EPSG:4490"
    xmin, ymin, xmax, ymax = (float(view.get(k, "nan")) for k in ("xmin", "ymin", "xmax", "ymax"))
    assert 107.0 < xmin < 108.5 < xmax < 110.0 and 21.5 < ymin < 22.8 < ymax < 24.5  # Nanning
    whole = ET.fromstring(client.get("/downloads/project.qgs").text)
    wide = whole.find("ProjectViewSettings/DefaultViewExtent")
    assert wide is not None and float(wide.get("xmax", "0")) - float(wide.get("xmin", "0")) > 7


def _key(engine: Engine, role: str = "gis", jurisdiction: str = "450100") -> str:
    return account_headers(engine, role, jurisdiction)["Authorization"].removeprefix("Bearer ")


def test_the_auth_configuration_holds_the_key_it_was_asked_with(
    client: TestClient, built_sample_store: Engine
) -> None:
    """``/downloads/qgis-auth.xml``: QGIS's Basic configuration ``geosvc1`` for the key the
    request carries, however it is carried; never kept by caches."""
    key = _key(built_sample_store)
    basic = base64.b64encode(f"anyone:{key}".encode()).decode()
    client = TestClient(client.app)  # no other credentials than the ones below
    for headers in (
        {"Authorization": f"Bearer {key}"},
        {"Authorization": f"Basic {basic}"},
        {"X-API-Key": key},
    ):
        answer = client.get("/downloads/qgis-auth.xml", headers=headers)
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"].startswith("application/xml")
        assert answer.headers["cache-control"] == "no-store"
        assert 'filename="geosvc1.xml"' in answer.headers["content-disposition"]
        config = ET.fromstring(answer.text).find("configurations/AuthMethodConfig")
        assert config is not None and config.get("id") == "geosvc1"
        assert config.get("method") == "Basic"
        assert config.get("uri") == "http://testserver/"
        settings = config.find("Config")
        assert settings is not None and settings.get("password") == key
        # what QGIS then sends is what the service reads as this account
        sent = base64.b64encode(f"{settings.get('username')}:{key}".encode()).decode()
        items = client.get(
            "/collections/cases/items?limit=1", headers={"Authorization": f"Basic {sent}"}
        )
        assert items.status_code == 200


def test_the_auth_configuration_needs_the_key_itself(
    built_sample_store: Engine, client: TestClient
) -> None:
    app = client.app
    anonymous = TestClient(app).get("/downloads/qgis-auth.xml")
    assert anonymous.status_code == 401 and set(anonymous.json()) == {"code", "description"}
    wrong = TestClient(app).get("/downloads/qgis-auth.xml", headers={"X-API-Key": "gs_nope"})
    assert wrong.status_code == 401
    browser = TestClient(app)  # signed in: a session, whose cookie is not a key
    signed_in = browser.post("/login", data={"api_key": _key(built_sample_store)})
    assert signed_in.status_code < 400 and browser.cookies.get("geo_session")
    session = browser.get("/downloads/qgis-auth.xml", headers={"Accept": "application/json"})
    assert session.status_code == 401 and "API" in session.json()["description"]


def test_an_accounts_project_names_the_auth_configuration_a_visitors_none(
    client: TestClient, built_sample_store: Engine
) -> None:
    key = _key(built_sample_store)
    text = client.get("/downloads/project.qgs", headers={"X-API-Key": key}).text
    sources = _sources(text)
    assert len(sources) == 11 and key not in text
    assert all("authcfg" in source for _, source in sources.values())
    visitor = TestClient(client.app).get("/downloads/project.qgs?jurisdiction=450000")
    assert visitor.status_code == 200 and "authcfg" not in visitor.text
    assert set(_sources(visitor.text)) == {
        "行政区划 Jurisdictions",
        "热点 Gi* hot spots",
        "H3 六边形案件数 Cases per hexagon",
        "案件核密度 Case density (KDE)",
        "案件核密度值 Case density GeoTIFF (件/km²)",
        "案件聚集区 Case clusters",
    }


def test_the_projects_analytic_layers_say_how_they_were_built(
    client: TestClient, built_sample_store: Engine
) -> None:
    root = ET.fromstring(client.get(f"/downloads/project.qgs?{NANNING_2024}").text)
    abstracts = {
        m.findtext("layername", ""): m.findtext("resourceMetadata/abstract", "")
        for m in root.iter("maplayer")
    }
    filters = Filters(jurisdiction="450100", period="2024")
    hotspots = analytic_layer(built_sample_store, "hotspots", filters, {})
    text = abstracts["热点 Gi* hot spots"]
    assert f"数据版本 Data version: {hotspots.data_version}" in text
    assert f"生成时间 Built at: {hotspots.created_at.isoformat()}" in text
    assert f"resolution={hotspots.parameters['resolution']}" in text
    assert "jurisdiction=450100" in text and "period=2024" in text
    for name in ("风险分级 Risk tiers", "重点检查区域 Priority areas", "案件聚集区 Case clusters"):
        assert "数据版本 Data version:" in abstracts[name], name
    assert abstracts["行政处罚案件 Penalty cases"] == "行政处罚案件 Penalty cases"  # records


def test_the_kde_geotiff_answers_byte_ranges(client: TestClient) -> None:
    """GDAL's /vsicurl/ (the project's GeoTIFF layer) reads by ranges."""
    whole = client.get("/downloads/kde.tif?jurisdiction=450100")
    assert whole.status_code == 200 and whole.headers["accept-ranges"] == "bytes"
    data, size = whole.content, len(whole.content)
    for asked, start, end in (
        ("bytes=0-16383", 0, 16383),
        ("bytes=100-", 100, size - 1),
        ("bytes=-500", size - 500, size - 1),
        (f"bytes=10-{size + 99}", 10, size - 1),
    ):
        part = client.get("/downloads/kde.tif?jurisdiction=450100", headers={"Range": asked})
        assert part.status_code == 206, asked
        assert part.content == data[start : end + 1]
        assert part.headers["content-range"] == f"bytes {start}-{end}/{size}"
        assert json.loads(part.headers["x-provenance"])["layer"] == "kde"
    beyond = client.get(
        "/downloads/kde.tif?jurisdiction=450100", headers={"Range": f"bytes={size}-"}
    )
    assert beyond.status_code == 416 and beyond.json()["code"] == "range_not_satisfiable"
    for ignored in ("bytes=0-1,5-9", "lines=1-2", "bytes=9-2"):
        answer = client.get("/downloads/kde.tif?jurisdiction=450100", headers={"Range": ignored})
        assert answer.status_code == 200 and answer.content == data, ignored
    csv_part = client.get(f"/downloads/cases.csv?{NANNING_2024}", headers={"Range": "bytes=0-9"})
    assert csv_part.status_code == 200  # only the GeoTIFF is read by ranges


# --- QGIS itself (Debian python3-qgis, run by the system Python) ---------------------------

SYSTEM_PYTHON = "/usr/bin/python3"
QGIS_CHECK = Path(__file__).parents[1] / "qgis_check.py"


def _qgis_available() -> str | None:
    """None when the system Python imports qgis.core, else why not."""
    if not Path(SYSTEM_PYTHON).exists():
        return f"{SYSTEM_PYTHON} not found"
    probe = subprocess.run(
        [SYSTEM_PYTHON, "-c", "import qgis.core"], capture_output=True, text=True, check=False
    )
    return None if probe.returncode == 0 else probe.stderr.strip().splitlines()[-1]


def _get(url: str, headers: dict[str, str]) -> bytes:
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers)) as answer:
        body: bytes = answer.read()
    return body


def _run_qgis_check(*args: str | Path, tmp_path: Path) -> dict[str, Any]:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_RUNTIME_DIR": str(tmp_path)}
    run = subprocess.run(
        [SYSTEM_PYTHON, str(QGIS_CHECK), *(str(a) for a in args)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    report: dict[str, Any] = json.loads(run.stdout.strip().splitlines()[-1])
    return report


@pytest.mark.slow
def test_qgis_opens_the_project_against_the_live_service(
    live_server: LiveServer, tmp_path: Path
) -> None:
    """As GIS staff of a city do: download the project and the auth configuration for
    their key, import it (a fresh QGIS profile, its master password set), open the
    project: every layer, on or off, is valid and holds data (features QGIS fetches,
    features it decodes from the tiles over the view, raster statistics over the
    view), the layers that are on draw, and the project as it opens renders to an
    image that is not blank."""
    reason = _qgis_available()
    if reason:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"QGIS (python3-qgis) required under CI=true: {reason}")
        pytest.skip(f"QGIS not installed for {SYSTEM_PYTHON}: {reason}")
    account = account_headers(live_server.engine, "gis", "450100")  # 南宁市 GIS staff
    key = account["Authorization"].removeprefix("Bearer ")
    path, auth = tmp_path / "project.qgs", tmp_path / "geosvc1.xml"
    path.write_bytes(_get(f"{live_server.url}/downloads/project.qgs", account))
    basic = base64.b64encode(f"gis:{key}".encode()).decode()  # curl -u gis:KEY, as documented
    auth.write_bytes(
        _get(f"{live_server.url}/downloads/qgis-auth.xml", {"Authorization": f"Basic {basic}"})
    )
    assert key not in path.read_text("utf-8")  # the project names the configuration only
    profile = tmp_path / "profile"
    profile.mkdir()
    log = live_server.log
    logged = len(log.read_text("utf-8")) if log else 0
    report = _run_qgis_check(path, auth, profile, tmp_path=tmp_path)
    assert report["auth"]["imported"] and report["auth"]["master_password_set"]
    assert report["auth"]["configs"] == ["geosvc1"]
    assert report["auth"]["database"].startswith(str(profile))  # a fresh one, not the user's
    assert report["read"] and report["crs"] == "EPSG:4490" and report["view_crs"] == "EPSG:4490"
    assert report["groups"] == [
        "执法记录 Enforcement records",
        "边界 Boundaries",
        "分析图层 Analysis",
    ]
    layers = {info["name"]: info for info in report["layers"].values()}
    assert len(layers) == 11 and all(info["valid"] for info in layers.values()), layers
    filters = Filters(jurisdiction="450100")
    for name, (provider, source) in _sources(path.read_text("utf-8")).items():
        info = layers[name]  # every layer holds data, not only the ones that are on
        assert info["provider"] == provider
        if provider == "OAPIF":  # every feature the account may see, through the auth
            expected = _expected_count(live_server.engine, oapif_url(source)[1], filters)
            assert info["feature_count"] == info["features_fetched"] == expected > 0, name
        elif provider == "vectortile":  # decoded by QGIS from the tiles over the view
            tile_layer = source.split("/tiles/")[1].split("/")[0]  # …/tiles/{layer}/{z}…
            assert info["tile_features"][tile_layer] > 0, (name, info["tile_features"])
        elif provider == "wms":  # XYZ PNG tiles: pixels with colour over the view
            assert not info["extent_empty"], name
            assert info["statistics"]["count"] > 0 and info["statistics"]["colours"] > 1, name
        else:  # the GeoTIFF: band statistics over the view
            assert provider == "gdal" and not info["extent_empty"], name
            stats = info["statistics"]
            assert stats["count"] > 0 and stats["max"] > stats["min"] >= 0, (name, stats)
    on = {name for name, info in layers.items() if info["visible"]}
    assert on == {"行政区划 Jurisdictions", "热点 Gi* hot spots", "重点检查区域 Priority areas"}
    assert all(layers[name]["drawn_pixels"] > 0 for name in on), layers
    points = [n for n, i in layers.items() if i["provider"] == "OAPIF" and i["scale_based"]]
    assert len(points) == 3 and all(layers[n]["min_scale"] == 250_000 for n in points)
    assert layers["行政区划 Jurisdictions"]["renderer"] == "categorizedSymbol"
    assert layers["行政处罚案件 Penalty cases"]["renderer"] == "singleSymbol"
    assert len(layers["热点 Gi* hot spots"]["styles"]) == 7
    assert len(layers["风险分级 Risk tiers"]["styles"]) == 3
    density = layers["案件核密度值 Case density GeoTIFF (件/km²)"]
    assert density["renderer"] == "singlebandpseudocolor" and density["drawn_pixels"] > 0
    # tiles (risk included: an account's) draw through the auth configuration too
    for name in (
        "风险分级 Risk tiers",
        "H3 六边形案件数 Cases per hexagon",
        "案件核密度 Case density (KDE)",
    ):
        assert layers[name]["drawn_pixels"] > 0, name
    hotspots = layers["热点 Gi* hot spots"]["abstract"]
    assert f"数据版本 Data version: {data_version(live_server.engine)}" in hotspots
    assert "生成时间 Built at: " in hotspots and "jurisdiction=450100" in hotspots
    rendered = report["render"]
    assert rendered["errors"] == [] and set(rendered["layers"]) == on
    assert rendered["drawn_pixels"] > 1000 and rendered["colours"] > 10  # not blank
    asked = log.read_text("utf-8")[logged:] if log else ""
    assert "/collections/cases/items?limit=1000" in asked  # pages of 1000 (pageSize)
    assert '" 401 ' not in asked and '" 403 ' not in asked  # nothing QGIS asked was refused


@pytest.mark.parametrize(
    "path",
    [
        "/downloads/cases.csv?resolution=8",
        "/downloads/kde.tif?resolution=6",
        "/downloads/hexagons.geojson?kernel=quartic",
        "/downloads/kde.tif?bandwidth_m=2000",
    ],
)
def test_parameters_a_layer_does_not_take_are_refused(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "bad_filter"
