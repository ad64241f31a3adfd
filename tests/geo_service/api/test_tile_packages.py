"""Offline tile packages over HTTP (``/downloads/{layer}.mbtiles|.pmtiles``): the tiles the
tile route serves the caller, within its scope, audited, and opened by GDAL (the current
one through pyogrio for both formats; Debian's GDAL 3.6 for MBTiles, as it has no
PMTiles driver before GDAL 3.8)."""

from __future__ import annotations

import gzip
import os
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import mapbox_vector_tile
import pyogrio
import pytest
from fastapi.testclient import TestClient
from pmtiles.reader import MemorySource, all_tiles
from sqlalchemy import Engine, select

from geo_service.api.app import create_app
from geo_service.core.filters import Filters
from geo_service.core.settings import Settings
from geo_service.store.models import AuditEntry
from geo_service.store.queries import read_frame, read_jurisdictions
from layers.tile_packages import MAX_PACKAGE_TILES, ZoomRange, count_tiles, covering_tiles
from tests.conftest import account_headers

COUNTY, NEIGHBOUR, CITY, PROVINCE = "450102", "450103", "450100", "450000"
OGRINFO_36 = "/usr/bin/ogrinfo"  # Debian 12's GDAL 3.6 (scripts/sysdeps.sh)
Tiles = dict[tuple[int, int, int], bytes]


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgis", marks=pytest.mark.postgis)]
)
def world(request: pytest.FixtureRequest) -> dict[str, Any]:
    """A client and a county account (兴宁区) over the built sample on SQLite and PostGIS."""
    fixture = "built_sample_store" if request.param == "sqlite" else "built_postgis_sample_store"
    engine: Engine = request.getfixturevalue(fixture)
    url = engine.url.render_as_string(hide_password=False)
    settings = Settings(database_url=url, rate_limit_per_minute=0, tile_rate_limit_per_minute=0)
    client = TestClient(create_app(settings))
    return {"client": client, "engine": engine, "county": account_headers(engine, "gis", COUNTY)}


def _mbtiles(content: bytes, tmp_path: Path) -> tuple[dict[str, str], Tiles]:
    """The metadata and the tiles (XYZ, unzipped) of an MBTiles file."""
    path = tmp_path / "package.mbtiles"
    path.write_bytes(content)
    with sqlite3.connect(path) as db:
        meta = dict(db.execute("SELECT name, value FROM metadata").fetchall())
        rows = db.execute("SELECT zoom_level, tile_column, tile_row, tile_data FROM tiles")
        tiles = {(z, x, (1 << z) - 1 - row): gzip.decompress(d) for z, x, row, d in rows}
    db.close()
    return meta, tiles


def _pmtiles(content: bytes) -> Tiles:
    source = MemorySource(content)
    return {zxy: gzip.decompress(d) for zxy, d in all_tiles(source)}


def _served(client: TestClient, layer: str, query: str, headers: dict[str, str], zxy: Any) -> bytes:
    """The tile as ``/tiles/{layer}/{z}/{x}/{y}.pbf`` serves it (b"" for a 204)."""
    z, x, y = zxy
    answer = client.get(f"/tiles/{layer}/{z}/{x}/{y}.pbf?{query}", headers=headers)
    assert answer.status_code in (200, 204), answer.text[:200]
    return answer.content


@pytest.mark.parametrize("layer", ["hexagons", "cases"])
@pytest.mark.parametrize("ext", ["mbtiles", "pmtiles"])
def test_a_package_holds_every_tile_the_tile_route_serves_and_no_empty_one(
    world: dict[str, Any], tmp_path: Path, layer: str, ext: str
) -> None:
    """Every tile over the county's box at zoom 5–10: in the package with the bytes the
    tile route serves, or empty there and absent here (y counted from the south in MBTiles)."""
    client, headers = world["client"], world["county"]
    query = f"jurisdiction={COUNTY}"
    answer = client.get(f"/downloads/{layer}.{ext}?{query}&minzoom=5&maxzoom=10", headers=headers)
    assert answer.status_code == 200, answer.text[:300]
    assert f'filename="{layer}_{COUNTY}_z-5-10.{ext}"' in answer.headers["content-disposition"]
    if ext == "mbtiles":
        meta, tiles = _mbtiles(answer.content, tmp_path)
        assert meta["format"] == "pbf" and (meta["minzoom"], meta["maxzoom"]) == ("5", "10")
    else:
        tiles = _pmtiles(answer.content)
    bounds = tuple(read_jurisdictions(world["engine"], Filters(jurisdiction=COUNTY)).total_bounds)
    covering = list(covering_tiles(bounds, ZoomRange(5, 10)))
    served = {zxy: _served(client, layer, query, headers, zxy) for zxy in covering}
    assert tiles == {zxy: body for zxy, body in served.items() if body}
    assert len(tiles) >= 6 and len(tiles) < len(covering)  # some empty tiles left out


def test_the_package_of_the_default_zooms_has_the_tiles_of_the_deepest(
    world: dict[str, Any], tmp_path: Path
) -> None:
    """Zoom 5–12 by default; a few tiles of zoom 12 are the tile route's, byte for byte."""
    client, headers = world["client"], world["county"]
    answer = client.get("/downloads/cases.mbtiles", headers=headers)
    assert answer.status_code == 200, answer.text[:300]
    meta, tiles = _mbtiles(answer.content, tmp_path)
    assert (meta["minzoom"], meta["maxzoom"]) == ("5", "12")
    deepest = sorted(zxy for zxy in tiles if zxy[0] == 12)
    assert deepest
    for zxy in deepest[:: max(1, len(deepest) // 4)]:
        assert tiles[zxy] == _served(client, "cases", "", headers, zxy)


def _features(tiles: Tiles, layer: str) -> list[dict[str, Any]]:
    return [
        feature
        for body in tiles.values()
        for feature in mapbox_vector_tile.decode(body)[layer]["features"]
    ]


@pytest.mark.parametrize("ext", ["mbtiles", "pmtiles"])
def test_a_county_package_holds_no_other_county_s_records(
    world: dict[str, Any], tmp_path: Path, ext: str
) -> None:
    """Asked for nothing in particular, a county account's package of cases is its own
    county's cases: their adcodes, and none of the neighbour's case numbers."""
    client, engine = world["client"], world["engine"]
    answer = client.get(f"/downloads/cases.{ext}?maxzoom=9", headers=world["county"])
    assert answer.status_code == 200, answer.text[:300]
    tiles = _mbtiles(answer.content, tmp_path)[1] if ext == "mbtiles" else _pmtiles(answer.content)
    features = _features(tiles, "cases")
    assert features and {str(f["properties"]["adcode"]) for f in features} == {COUNTY}
    neighbour = set(
        read_frame(engine, "cases", Filters(jurisdiction=NEIGHBOUR), ["case_id"]).case_id
    )
    assert neighbour and not neighbour & {f["properties"]["case_id"] for f in features}
    own = read_frame(engine, "cases", Filters(jurisdiction=COUNTY), ["case_id"])
    assert {f["properties"]["case_id"] for f in features} == set(own.case_id)


@pytest.mark.parametrize("ext", ["mbtiles", "pmtiles"])
def test_outside_the_scope_403_anonymous_below_province_401(
    world: dict[str, Any], ext: str
) -> None:
    client, headers = world["client"], world["county"]
    for outside in (NEIGHBOUR, CITY, PROVINCE):
        answer = client.get(f"/downloads/hexagons.{ext}?jurisdiction={outside}", headers=headers)
        assert answer.status_code == 403 and answer.json()["code"] == "forbidden"
    for below in (COUNTY, CITY):
        answer = client.get(f"/downloads/hexagons.{ext}?jurisdiction={below}")
        assert answer.status_code == 401 and set(answer.json()) == {"code", "description"}
    points = client.get(f"/downloads/cases.{ext}?jurisdiction={PROVINCE}&maxzoom=7")
    assert points.status_code == 401, points.text[:200]


def test_anonymous_province_package_is_the_public_view(
    world: dict[str, Any], tmp_path: Path
) -> None:
    """Anonymous at province level: the public hexagons the tile route serves anonymously
    (resolution 6, no count of one or two)."""
    client = world["client"]
    query = f"jurisdiction={PROVINCE}"
    answer = client.get(f"/downloads/hexagons.mbtiles?{query}&minzoom=6&maxzoom=7")
    assert answer.status_code == 200, answer.text[:300]
    tiles = _mbtiles(answer.content, tmp_path)[1]
    features = _features(tiles, "hexagons")
    assert features and {f["properties"]["resolution"] for f in features} == {6}
    assert not {f["properties"].get("cases") for f in features} & {1, 2}
    zxy = max(tiles, key=lambda k: len(tiles[k]))
    assert tiles[zxy] == _served(client, "hexagons", query, {}, zxy)


def test_zoom_range_and_the_tile_cap_are_400_in_chinese_and_english(
    world: dict[str, Any],
) -> None:
    client = world["client"]
    admin = account_headers(world["engine"], "gis", PROVINCE)
    bounds = tuple(read_jurisdictions(world["engine"], Filters(jurisdiction=PROVINCE)).total_bounds)
    assert count_tiles(bounds, ZoomRange(5, 14)) > MAX_PACKAGE_TILES
    too_many = client.get("/downloads/hexagons.pmtiles?minzoom=5&maxzoom=14", headers=admin)
    assert too_many.status_code == 400 and too_many.json()["code"] == "too_many_tiles"
    assert "瓦片" in too_many.json()["description"] and "tiles" in too_many.json()["description"]
    for query in ("minzoom=9&maxzoom=5", "maxzoom=15", "maxzoom=17"):
        answer = client.get(f"/downloads/hexagons.mbtiles?{query}", headers=admin)
        assert answer.status_code == 400, (query, answer.text[:200])
        assert answer.json()["code"] in ("bad_zoom_range", "bad_parameter")
    assert client.get("/downloads/kde.mbtiles", headers=admin).status_code == 404
    assert client.get("/downloads/nothing.pmtiles", headers=admin).status_code == 404


def _audited(engine: Engine, resource: str) -> list[tuple[int | None, dict[str, Any]]]:
    with engine.connect() as conn:
        query = select(AuditEntry.records, AuditEntry.parameters)
        rows = conn.execute(query.where(AuditEntry.resource == resource).order_by(AuditEntry.id))
        return [(r.records, r.parameters) for r in rows]


def test_a_package_of_records_is_audited_with_its_tiles_and_features(
    world: dict[str, Any], tmp_path: Path
) -> None:
    client, engine = world["client"], world["engine"]
    before = len(_audited(engine, "/downloads/cases.mbtiles"))
    answer = client.get("/downloads/cases.mbtiles?maxzoom=8", headers=world["county"])
    assert answer.status_code == 200
    tiles = _mbtiles(answer.content, tmp_path)[1]
    entries = _audited(engine, "/downloads/cases.mbtiles")[before:]
    assert entries == [
        (len(_features(tiles, "cases")), {"jurisdiction": COUNTY, "z": "5-8", "tiles": len(tiles)})
    ]


@pytest.mark.parametrize("ext", ["mbtiles", "pmtiles"])
def test_current_gdal_reads_the_packages(world: dict[str, Any], tmp_path: Path, ext: str) -> None:
    """GDAL (pyogrio's) lists the layer and reads its features from either package."""
    answer = world["client"].get(f"/downloads/cases.{ext}?maxzoom=10", headers=world["county"])
    path = tmp_path / f"cases.{ext}"
    path.write_bytes(answer.content)
    assert [str(name) for name, _ in pyogrio.list_layers(path)] == ["cases"]
    frame = pyogrio.read_dataframe(path, layer="cases")
    own = read_frame(world["engine"], "cases", Filters(jurisdiction=COUNTY), ["case_id"])
    assert set(frame["case_id"]) == set(own.case_id)
    assert set(frame["adcode"].astype(str)) == {COUNTY}
    west, south, east, north = read_jurisdictions(
        world["engine"], Filters(jurisdiction=COUNTY)
    ).total_bounds
    x0, y0, x1, y1 = frame.to_crs(4326).total_bounds
    assert west <= x0 <= x1 <= east and south <= y0 <= y1 <= north


@pytest.mark.skipif(
    not os.path.exists(OGRINFO_36) and not os.environ.get("CI"),
    reason="Debian's gdal-bin is not installed (scripts/sysdeps.sh installs it)",
)
def test_debian_gdal_36_reads_the_mbtiles_package(world: dict[str, Any], tmp_path: Path) -> None:
    """GDAL 3.6 (QGIS 3.22's) opens the MBTiles package and counts its hexagons."""
    answer = world["client"].get("/downloads/hexagons.mbtiles?maxzoom=10", headers=world["county"])
    path = tmp_path / "hexagons.mbtiles"
    path.write_bytes(answer.content)
    version = subprocess.run([OGRINFO_36, "--version"], capture_output=True, text=True)
    assert version.stdout.startswith("GDAL 3.6"), version.stdout
    ran = subprocess.run(
        [OGRINFO_36, "-ro", "-so", str(path), "hexagons"], capture_output=True, text=True
    )
    assert ran.returncode == 0, ran.stderr
    assert "Layer name: hexagons" in ran.stdout and "MBTiles" in ran.stdout
    count = int(ran.stdout.split("Feature Count: ")[1].split()[0])
    assert count > 0
