"""MBTiles and PMTiles packages of vector tiles: the tiles go in and come out unchanged, at
their XYZ place (MBTiles rows from the south), with the metadata the specifications ask
for; the tiles covering a box; the zoom range and tile cap refused in Chinese and English."""

from __future__ import annotations

import gzip
import json
import sqlite3
from pathlib import Path

import geopandas as gpd
import mapbox_vector_tile
import morecantile
import pyogrio
import pytest
from pmtiles.reader import MemorySource, Reader, all_tiles
from pmtiles.tile import Compression, TileType
from shapely.geometry import Point

from layers.tile_packages import (
    MBTILES_APPLICATION_ID,
    BadZoomRangeError,
    PackageInfo,
    TilePackageError,
    TooManyTilesError,
    ZoomRange,
    check_tile_count,
    count_tiles,
    covering_tiles,
    mbtiles_bytes,
    pmtiles_bytes,
)
from layers.tiles import TileSource, vector_tile

NANNING = (108.1, 22.6, 108.7, 23.1)
WEB_MERCATOR = morecantile.tms.get("WebMercatorQuad")


@pytest.fixture(scope="module")
def tiles() -> dict[tuple[int, int, int], bytes]:
    """Tiles of a few points over Nanning as the tile routes cut them, with some empty."""
    frame = gpd.GeoDataFrame(
        {"adcode": ["450102", "450103", "450102"], "n": [1, 2, 3]},
        geometry=[Point(108.35, 22.82), Point(108.40, 22.80), Point(108.62, 23.05)],
        crs=4326,
    )
    source = TileSource(frame)
    return {
        index: vector_tile(source, "points", *index)
        for index in covering_tiles(NANNING, ZoomRange(8, 11))
    }


ZOOMS = ZoomRange(8, 11)


def _info(zooms: ZoomRange = ZOOMS) -> PackageInfo:
    fields = {"adcode": "String", "n": "Number"}
    return PackageInfo("points", "点 Points", NANNING, zooms, fields, attribution="test")


def test_covering_tiles_are_morecantile_s_and_counted() -> None:
    zooms = ZoomRange(5, 12)
    ours = list(covering_tiles(NANNING, zooms))
    theirs = [(t.z, t.x, t.y) for t in WEB_MERCATOR.tiles(*NANNING, zooms=list(zooms.levels))]
    assert sorted(ours) == sorted(theirs) and count_tiles(NANNING, zooms) == len(ours)
    # a box ending on a tile's edge takes no tile beyond it
    west, south, east, north = WEB_MERCATOR.bounds(morecantile.Tile(104, 56, 7))
    assert list(covering_tiles((west, south, east, north), ZoomRange(7, 7))) == [(7, 104, 56)]


def test_mbtiles_holds_the_tiles_with_rows_from_the_south(
    tiles: dict[tuple[int, int, int], bytes], tmp_path: Path
) -> None:
    path = tmp_path / "points.mbtiles"
    path.write_bytes(mbtiles_bytes(tiles, _info()))
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA application_id").fetchone()[0] == MBTILES_APPLICATION_ID
        meta = dict(db.execute("SELECT name, value FROM metadata").fetchall())
        rows = db.execute("SELECT zoom_level, tile_column, tile_row, tile_data FROM tiles")
        stored = {(z, x, (1 << z) - 1 - row): gzip.decompress(data) for z, x, row, data in rows}
    db.close()
    assert stored == {index: body for index, body in tiles.items() if body}
    assert len(stored) < len(tiles)  # empty tiles left out
    assert meta["format"] == "pbf" and (meta["minzoom"], meta["maxzoom"]) == ("8", "11")
    assert [float(v) for v in meta["bounds"].split(",")] == pytest.approx(NANNING)
    lon, lat, zoom = meta["center"].split(",")
    assert (float(lon), float(lat), zoom) == (pytest.approx(108.4), pytest.approx(22.85), "8")
    layers = json.loads(meta["json"])["vector_layers"]
    assert layers == [
        {
            "id": "points",
            "description": "点 Points",
            "minzoom": 8,
            "maxzoom": 11,
            "fields": {"adcode": "String", "n": "Number"},
        }
    ]


def test_pmtiles_holds_the_tiles_and_says_they_are_gzip_d_mvt(
    tiles: dict[tuple[int, int, int], bytes],
) -> None:
    data = pmtiles_bytes(tiles, _info())
    source = MemorySource(data)
    stored = {zxy: gzip.decompress(body) for zxy, body in all_tiles(source)}
    assert stored == {index: body for index, body in tiles.items() if body}
    reader = Reader(source)
    header = reader.header()
    assert header["tile_type"] == TileType.MVT
    assert header["tile_compression"] == Compression.GZIP
    assert (header["min_zoom"], header["max_zoom"]) == (8, 11)
    assert header["min_lon_e7"] == 1_081_000_000 and header["max_lat_e7"] == 231_000_000
    assert reader.metadata()["vector_layers"][0]["id"] == "points"


def test_no_tile_at_all_is_no_pmtiles() -> None:
    with pytest.raises(TilePackageError, match="PMTiles"):
        pmtiles_bytes({(8, 1, 1): b""}, _info())


@pytest.mark.parametrize("ext", ["mbtiles", "pmtiles"])
def test_gdal_reads_the_points_back(
    tiles: dict[tuple[int, int, int], bytes], tmp_path: Path, ext: str
) -> None:
    """GDAL's MBTiles and PMTiles drivers read the features at the deepest zoom, in place."""
    path = tmp_path / f"points.{ext}"
    write = mbtiles_bytes if ext == "mbtiles" else pmtiles_bytes
    path.write_bytes(write(tiles, _info()))
    frame = pyogrio.read_dataframe(path, layer="points").to_crs(4326)
    assert sorted(frame["n"]) == [1, 2, 3]
    by_n = frame.set_index("n").geometry
    assert by_n[2].x == pytest.approx(108.40, abs=1e-4) and by_n[2].y == pytest.approx(
        22.80, abs=1e-4
    )


def test_decoded_tiles_are_the_points(tiles: dict[tuple[int, int, int], bytes]) -> None:
    """The fixture itself: tiles at zoom 8 hold all three points, some deeper are empty."""
    (index,) = [i for i in tiles if i[0] == 8 and tiles[i]]
    decoded = mapbox_vector_tile.decode(tiles[index])["points"]["features"]
    assert sorted(f["properties"]["n"] for f in decoded) == [1, 2, 3]


def test_zoom_range_and_tile_cap_are_refused_in_both_languages() -> None:
    assert ZoomRange(5, 12).check(14) == ZoomRange(5, 12)
    for low, high in ((9, 5), (5, 15), (-1, 3)):
        with pytest.raises(BadZoomRangeError, match=r"缩放级别.*Zoom levels"):
            ZoomRange(low, high).check(14)
    assert check_tile_count(NANNING, ZoomRange(5, 12), max_tiles=1_000) == count_tiles(
        NANNING, ZoomRange(5, 12)
    )
    with pytest.raises(TooManyTilesError, match=r"瓦片.*tiles") as refused:
        check_tile_count(NANNING, ZoomRange(5, 14), max_tiles=1_000)
    assert refused.value.code == "too_many_tiles"
