"""Map files built offline: everything inline, the data as GeoJSON, the font cut to the
characters the file uses, and the heat surface as one image."""

from __future__ import annotations

import base64
import io
import json
import re

import geopandas as gpd
import numpy as np
import pytest
import shapely
from fontTools.ttLib import TTFont

from analytics.density import DensitySurface, Grid
from analytics.projection import lonlat_to_equal_area
from geo_service.core.paths import STATIC_DIR
from layers.heat import HeatSource
from layers.map_files import (
    FileAssets,
    MapFileData,
    build_map_file,
    file_references,
    font_subset,
    frame_to_geojson,
    surface_image,
)
from layers.maps import MAPS, map_layers
from tests.layers.test_maps import _context, page_config

ASSETS = FileAssets.from_folder(STATIC_DIR)
HEX = "8740b2000ffffff"


def _data(name: str) -> MapFileData:
    """A feature for each vector layer of map ``name`` and two outlines."""
    layers, _ = map_layers(name, _context())
    ring = shapely.box(108.3, 22.8, 108.5, 23)
    feature = {"type": "Feature", "properties": {"h3": HEX, "cases": 7, "name": "兴宁区"}}
    collection = {
        "type": "FeatureCollection",
        "features": [{**feature, "geometry": shapely.geometry.mapping(ring)}],
    }
    outlines = frame_to_geojson(
        gpd.GeoDataFrame(
            {
                "adcode": ["450100", "450102"],
                "name": ["南宁市", "兴宁区"],
                "level": ["city", "county"],
            },
            geometry=[shapely.box(107.3, 22.2, 109.6, 23.6), ring],
        ),
        ["adcode", "name", "level"],
    )
    return MapFileData({la.id: collection for la in layers if la.style}, outlines, None, "测试文件")


@pytest.mark.parametrize("name", [n for n in MAPS if n != "heatmap"])
def test_a_map_file_holds_everything_it_draws(name: str) -> None:
    html, font_bytes = build_map_file(name, _context(), _data(name), ASSETS)
    assert file_references(html) == []
    assert "/static/" not in html and "<script src" not in html
    config = page_config(html)
    assert config["file"] == {"note": "测试文件"} and config["time"] is None
    assert config["home"] == "" and config["file_path"] is None
    assert html.count("GeoMaps.geojson({") == len(config["layers"]) + 1
    assert 0 < font_bytes < 200_000


def test_the_font_keeps_the_characters_of_the_file_only() -> None:
    text = "南宁市兴宁区 Map 0123"
    cut = font_subset(ASSETS.font, text)
    assert cut[:4] == b"wOFF"
    covered = set(TTFont(io.BytesIO(cut)).getBestCmap())
    assert {ord(c) for c in text} <= covered
    assert ord("柳") not in covered and len(covered) < 40


def test_the_file_font_covers_its_chinese() -> None:
    html, _ = build_map_file("hexagons", _context(), _data("hexagons"), ASSETS)
    rule = re.search(r"@font-face\{[^}]*base64,([A-Za-z0-9+/=]+)", html)
    assert rule
    covered = set(TTFont(io.BytesIO(base64.b64decode(rule.group(1)))).getBestCmap())
    bundled = set(TTFont(io.BytesIO(ASSETS.font)).getBestCmap())
    escaped = {int(code, 16) for code in re.findall(r"\\u([0-9a-fA-F]{4})", html)}
    chinese = {ord(c) for c in html if "\u4e00" <= c <= "\u9fff"} | escaped
    assert {ord(c) for c in "南宁市兴宁区六边形"} <= covered
    assert {ord(c) for c in "行政区划"} <= covered  # Folium writes layer names as \uXXXX
    assert chinese & bundled <= covered


def test_frame_to_geojson_keeps_what_the_map_reads() -> None:
    frame = gpd.GeoDataFrame(
        {"cases": [3], "gi_p": [0.0123456], "secret": ["x"]},
        geometry=[shapely.Point(108.123456789, 22.987654321)],
        crs="EPSG:4326",
    )
    doc = frame_to_geojson(frame, ["cases", "gi_p", "missing"], digits=5)
    (feature,) = doc["features"]
    assert feature["properties"] == {"cases": 3, "gi_p": 0.0123}
    assert feature["geometry"]["coordinates"] == [108.12346, 22.98765]
    assert json.loads(json.dumps(doc)) == doc


def test_the_heat_surface_is_one_image_over_its_extent() -> None:
    cx, cy = lonlat_to_equal_area([108.3], [22.8])
    grid = Grid(float(cx[0]) - 20_000, float(cy[0]) + 15_000, 1000.0, 40, 30)
    values = np.zeros((30, 40))
    values[10:20, 10:30] = 5.0
    source = HeatSource(DensitySurface(values, grid, 5000.0, "quartic", 10, 10.0))
    image = surface_image(source, {"title": "t"}, max_px=200)
    assert image is not None and image.png[:4] == b"\x89PNG"
    west, south, east, north = image.bounds
    assert west < 108.3 < east and south < 22.8 < north
    assert east - west < 0.5 and north - south < 0.4  # the surface's extent, 40 × 30 km
    empty = HeatSource(DensitySurface(np.zeros((30, 40)), grid, 5000.0, "quartic", 0, 0.0))
    assert surface_image(empty, {}) is None
