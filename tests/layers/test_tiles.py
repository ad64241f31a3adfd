"""Tile maths, the numpy MVT encoder (against hand-checked commands and mapbox-vector-tile's
decoder), clipping, simplification, GeoJSON tiles and TileJSON."""

from __future__ import annotations

import json
import math

import geopandas as gpd
import mapbox_vector_tile
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from mapbox_vector_tile.Mapbox import vector_tile_pb2
from pyproj import Transformer
from shapely.geometry import LineString, MultiLineString, MultiPoint, MultiPolygon, Point, Polygon
from shapely.geometry import shape as to_shape

from layers.tiles import (
    BUFFER,
    TileError,
    TileSource,
    check_tile,
    geojson_tile,
    lonlat_to_mercator,
    mercator_to_lonlat,
    tile_bounds_lonlat,
    tile_bounds_m,
    tilejson,
    vector_tile,
)
from layers.vector_tiles import EXTENT, ValueTable, encode_tile, varints, zigzag

TO_3857 = Transformer.from_crs(4326, 3857, always_xy=True)
Y_DOWN = {"y_coord_down": True}


def raw_layer(data: bytes) -> vector_tile_pb2.tile.layer:
    tile = vector_tile_pb2.tile()
    tile.ParseFromString(data)
    assert len(tile.layers) == 1
    return tile.layers[0]


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int, int]:
    n = 2**z
    y = (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n
    return z, int((lon + 180) / 360 * n), int(y)


def expected_in_tile(geometry: shapely.Geometry, tile: tuple[int, int, int]) -> shapely.Geometry:
    """A WGS84 geometry in tile units (y down) clipped to the buffered tile, by pyproj."""
    min_x, _, max_x, max_y = tile_bounds_m(*tile)
    scale = EXTENT / (max_x - min_x)

    def to_tile(c: np.ndarray) -> np.ndarray:
        x, y = TO_3857.transform(c[:, 0], c[:, 1])
        return np.column_stack([(np.asarray(x) - min_x) * scale, (max_y - np.asarray(y)) * scale])

    local = shapely.transform(geometry, to_tile)
    return shapely.clip_by_rect(local, -BUFFER, -BUFFER, EXTENT + BUFFER, EXTENT + BUFFER)


def signed_area(ring: list[list[float]]) -> float:
    xy = np.asarray(ring, dtype=float)
    x, y = xy[:, 0], xy[:, 1]
    return 0.5 * float(np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y))


# ---------------------------------------------------------------- tile maths


def test_tile_bounds_agree_with_pyproj_and_invert() -> None:
    west, south, east, north = tile_bounds_lonlat(8, 205, 113)
    assert west == pytest.approx(108.28125) and east == pytest.approx(109.6875)
    min_x, min_y, max_x, max_y = tile_bounds_m(8, 205, 113)
    x, y = TO_3857.transform([west, east], [south, north])
    assert np.allclose(x, [min_x, max_x]) and np.allclose(y, [min_y, max_y])
    mx, my = lonlat_to_mercator([108.3, -70.0], [22.8, -30.0])
    assert np.allclose(
        np.column_stack([mx, my]), np.column_stack(TO_3857.transform([108.3, -70.0], [22.8, -30.0]))
    )
    lon, lat = mercator_to_lonlat(mx, my)
    assert np.allclose(lon, [108.3, -70.0]) and np.allclose(lat, [22.8, -30.0])


@pytest.mark.parametrize("z, x, y", [(-1, 0, 0), (23, 0, 0), (3, 8, 0), (3, 0, 8), (0, 1, 0)])
def test_impossible_tiles_are_refused(z: int, x: int, y: int) -> None:
    with pytest.raises(TileError):
        check_tile(z, x, y)
    check_tile(3, 7, 7)


# ---------------------------------------------------------------- hand-checked encodings


def test_point_tile_bytes_by_hand() -> None:
    data = encode_tile("p", [Point(25, 17)], pd.DataFrame({"n": [1]}))
    expected = (
        "1a1c"  # Tile.layers (field 3, length-delimited), 28 bytes
        "0a0170"  # Layer.name "p"
        "120b"  # Layer.features, 11 bytes
        "12020000"  # Feature.tags [key 0, value 0]
        "1801"  # Feature.type POINT
        "2203093222"  # Feature.geometry [MoveTo(1), zigzag(25)=50, zigzag(17)=34]
        "1a016e"  # Layer.keys "n"
        "22022001"  # Layer.values: Value.int_value 1
        "288020"  # Layer.extent 4096
        "7802"  # Layer.version 2
    )
    assert data.hex() == expected
    assert data == mapbox_vector_tile.encode(
        [{"name": "p", "features": [{"geometry": Point(25, 17), "properties": {"n": 1}}]}],
        default_options=Y_DOWN,
    )


# The examples of the MVT 2.1 specification, section 4.3.5.
SPEC_EXAMPLES = [
    (Point(25, 17), 1, [9, 50, 34]),
    (MultiPoint([(5, 7), (3, 2)]), 1, [17, 10, 14, 3, 9]),
    (LineString([(2, 2), (2, 10), (10, 10)]), 2, [9, 4, 4, 18, 0, 16, 16, 0]),
    (
        MultiLineString([[(2, 2), (2, 10), (10, 10)], [(1, 1), (3, 5)]]),
        2,
        [9, 4, 4, 18, 0, 16, 16, 0, 9, 17, 17, 10, 4, 8],
    ),
    (Polygon([(3, 6), (8, 12), (20, 34)]), 3, [9, 6, 12, 18, 10, 12, 24, 44, 15]),
    (
        MultiPolygon(
            [
                Polygon([(0, 0), (10, 0), (10, 10), (0, 10)]),
                Polygon(
                    [(11, 11), (20, 11), (20, 20), (11, 20)],
                    [[(13, 13), (13, 17), (17, 17), (17, 13)]],
                ),
            ]
        ),
        3,
        [
            9,
            0,
            0,
            26,
            20,
            0,
            0,
            20,
            19,
            0,
            15,
            9,
            22,
            2,
            26,
            18,
            0,
            0,
            18,
            17,
            0,
            15,
            9,
            4,
            13,
            26,
            0,
            8,
            8,
            0,
            0,
            7,
            15,
        ],
    ),
]


@pytest.mark.parametrize("geometry, kind, commands", SPEC_EXAMPLES)
def test_specification_examples(geometry: shapely.Geometry, kind: int, commands: list[int]) -> None:
    feature = raw_layer(encode_tile("s", [geometry])).features[0]
    assert feature.type == kind
    assert list(feature.geometry) == commands


def test_rings_are_oriented_as_the_specification_requires() -> None:
    # the spec's square given counter-clockwise on screen and its hole clockwise: both reversed
    square = Polygon([(0, 10), (10, 10), (10, 0), (0, 0)], [[(2, 2), (8, 2), (8, 8), (2, 8)]])
    decoded = mapbox_vector_tile.decode(encode_tile("s", [square]), default_options=Y_DOWN)
    rings = decoded["s"]["features"][0]["geometry"]["coordinates"]
    assert signed_area(rings[0]) == 100 and signed_area(rings[1]) == -36
    commands = list(raw_layer(encode_tile("s", [square])).features[0].geometry)
    assert commands[:11] == [9, 0, 0, 26, 20, 0, 0, 20, 19, 0, 15]  # reversed: starts at (0, 0)


def test_values_are_typed_deduplicated_and_missing_ones_omitted() -> None:
    props = pd.DataFrame(
        {
            "count": [3, 3, -2],
            "rate": [0.5, np.nan, 3.0],
            "name": ["甲", "乙", "甲"],
            "flag": [True, False, True],
            "other": [3, 4, 5],
        }
    )
    data = encode_tile("v", [Point(i, i) for i in range(3)], props, ids=[7, 8, 9])
    layer = raw_layer(data)
    assert list(layer.keys) == ["count", "rate", "name", "flag", "other"]
    values = [v.ListFields()[0] for v in layer.values]  # (field, value) of each Value
    assert len(values) == len({(f.name, v) for f, v in values}) == 10  # 3 is shared by two keys
    assert {f.name for f, _ in values} == {
        "int_value",
        "sint_value",
        "double_value",
        "string_value",
        "bool_value",
    }
    decoded = mapbox_vector_tile.decode(data, default_options=Y_DOWN)["v"]["features"]
    assert [f["id"] for f in decoded] == [7, 8, 9]
    assert decoded[0]["properties"] == {
        "count": 3,
        "rate": 0.5,
        "name": "甲",
        "flag": True,
        "other": 3,
    }
    assert "rate" not in decoded[1]["properties"]  # NaN: no tag
    assert decoded[2]["properties"]["count"] == -2  # sint_value
    table = ValueTable.from_frame(props)
    assert table.types == {
        "count": "Number",
        "rate": "Number",
        "name": "String",
        "flag": "Boolean",
        "other": "Number",
    }


@given(st.lists(st.integers(min_value=0, max_value=2**64 - 1), max_size=50))
def test_varints_match_the_protobuf_definition(values: list[int]) -> None:
    def one(n: int) -> bytes:
        out = bytearray()
        while n >= 0x80:
            out.append(n & 0x7F | 0x80)
            n >>= 7
        return bytes([*out, n])

    assert varints(np.array(values, dtype=np.uint64)) == b"".join(one(v) for v in values)


@given(st.lists(st.integers(min_value=-(2**62), max_value=2**62), max_size=50))
def test_zigzag_interleaves_signs(values: list[int]) -> None:
    expected = [2 * v if v >= 0 else -2 * v - 1 for v in values]
    assert zigzag(np.array(values, dtype=np.int64)).tolist() == expected


ring_points = st.lists(
    st.tuples(st.integers(-200, 4300), st.integers(-200, 4300)), min_size=3, max_size=40
)


@settings(max_examples=60, deadline=None)
@given(ring_points, st.booleans(), st.booleans())
def test_polygons_round_trip_through_the_decoder(
    points: list[tuple[int, int]], reverse: bool, with_hole: bool
) -> None:
    hull = shapely.convex_hull(MultiPoint(points))
    if hull.geom_type != "Polygon" or hull.area < 4:
        return
    exterior = list(hull.exterior.coords)[:-1]
    holes = []
    if with_hole:
        centre = hull.centroid
        hole = shapely.affinity.scale(hull, 0.3, 0.3, origin=centre)
        if hole.area >= 4:
            holes = [list(hole.exterior.coords)[:: -1 if reverse else 1]]
    polygon = Polygon(exterior[::-1] if reverse else exterior, holes)
    decoded = mapbox_vector_tile.decode(encode_tile("h", [polygon]), default_options=Y_DOWN)
    feature = decoded["h"]["features"][0]["geometry"]
    assert feature["type"] == "Polygon"
    rings = feature["coordinates"]
    assert signed_area(rings[0]) > 0 and all(signed_area(r) < 0 for r in rings[1:])
    rounded = shapely.transform(polygon, np.rint)
    assert to_shape(feature).hausdorff_distance(rounded) <= 1.0


# ---------------------------------------------------------------- prepared layers


@pytest.fixture(scope="module")
def hexagons() -> gpd.GeoDataFrame:
    import h3

    from analytics.cells import cells_to_polygons

    cells = np.array(
        sorted(h3.str_to_int(c) for c in h3.grid_disk(h3.latlng_to_cell(22.82, 108.37, 7), 12)),
        dtype=np.int64,
    )
    rng = np.random.default_rng(3)
    return gpd.GeoDataFrame(
        {
            "h3": [h3.int_to_str(int(c)) for c in cells],
            "cases": rng.integers(0, 9, len(cells)),
            "rate": np.where(rng.random(len(cells)) < 0.2, np.nan, rng.random(len(cells))),
        },
        geometry=cells_to_polygons(cells),
        crs="EPSG:4326",
    )


def test_hexagon_tile_matches_the_source_features(hexagons: gpd.GeoDataFrame) -> None:
    tile = tile_of(108.37, 22.82, 10)  # the disk is larger than this tile: edges are clipped
    source = TileSource(hexagons, ids=[int(h, 16) for h in hexagons["h3"]])
    decoded = mapbox_vector_tile.decode(
        vector_tile(source, "hexagons", *tile), default_options=Y_DOWN
    )["hexagons"]
    assert decoded["extent"] == EXTENT and decoded["version"] == 2
    by_id = {int(h, 16): i for i, h in enumerate(hexagons["h3"])}
    bounds = shapely.box(*tile_bounds_lonlat(*tile))
    inside = {
        int(h, 16)
        for h, g in zip(hexagons["h3"], hexagons.geometry, strict=True)
        if g.intersects(bounds)
    }
    got = {f["id"] for f in decoded["features"]}
    assert inside <= got and len(got) < len(hexagons)  # buffer may add a few, far ones are out
    for feature in decoded["features"]:
        row = hexagons.iloc[by_id[feature["id"]]]
        expected = {"h3": row["h3"], "cases": int(row["cases"])}
        if not np.isnan(row["rate"]):
            expected["rate"] = float(row["rate"])
        assert feature["properties"] == expected
        reference = expected_in_tile(row.geometry, tile)
        assert to_shape(feature["geometry"]).hausdorff_distance(reference) <= 1.0
        coords = np.asarray(feature["geometry"]["coordinates"][0])
        assert coords.min() >= -BUFFER and coords.max() <= EXTENT + BUFFER


def test_points_and_multipolygons_with_holes(divisions_gdf: gpd.GeoDataFrame) -> None:
    tile = tile_of(108.37, 22.82, 9)
    ring = shapely.Point(108.37, 22.82).buffer(0.2)
    donut = MultiPolygon(
        [
            ring.difference(shapely.Point(108.37, 22.82).buffer(0.05)),
            shapely.Point(108.9, 22.6).buffer(0.04),
        ]
    )
    frame = gpd.GeoDataFrame(
        {"name": ["环", "点一", "点二", "远"]},
        geometry=[
            donut,
            Point(108.40, 22.85),
            MultiPoint([(108.35, 22.7), (108.5, 22.9)]),
            Point(100.0, 30.0),
        ],
        crs="EPSG:4326",
    )
    decoded = mapbox_vector_tile.decode(
        vector_tile(TileSource(frame), "m", *tile), default_options=Y_DOWN
    )["m"]["features"]
    names = {f["properties"]["name"]: f["geometry"] for f in decoded}
    assert set(names) == {"环", "点一", "点二"}
    assert names["点二"]["type"] == "MultiPoint"
    polygon = names["环"]
    assert polygon["type"] == "MultiPolygon" and len(polygon["coordinates"][0]) == 2  # the hole
    reference = expected_in_tile(donut, tile)
    assert to_shape(polygon).hausdorff_distance(reference) <= 1.0
    assert abs(to_shape(polygon).area - reference.area) / reference.area < 0.01
    point = expected_in_tile(Point(108.40, 22.85), tile)
    assert np.allclose(names["点一"]["coordinates"], [point.x, point.y], atol=0.5)


def test_detailed_polygons_are_simplified_for_the_zoom() -> None:
    circle = shapely.Point(108.37, 22.82).buffer(1.0, quad_segs=2000)  # 8000 vertices
    frame = gpd.GeoDataFrame({"name": ["圆"]}, geometry=[circle], crs="EPSG:4326")
    tile = tile_of(108.37, 22.82, 6)
    commands = raw_layer(vector_tile(TileSource(frame), "c", *tile)).features[0].geometry
    assert len(commands) < 2 * 1000  # far fewer vertices than the source
    decoded = mapbox_vector_tile.decode(
        vector_tile(TileSource(frame), "c", *tile), default_options=Y_DOWN
    )["c"]["features"][0]
    assert to_shape(decoded["geometry"]).hausdorff_distance(expected_in_tile(circle, tile)) <= 2


def test_empty_tiles_are_empty(hexagons: gpd.GeoDataFrame) -> None:
    source = TileSource(hexagons)
    assert vector_tile(source, "hexagons", 8, 0, 0) == b""
    assert geojson_tile(source, 8, 0, 0) == b""
    empty = TileSource(hexagons.iloc[:0])
    assert vector_tile(empty, "hexagons", 0, 0, 0) == b""


def test_geojson_tile_is_rfc7946_clipped_to_the_buffered_tile(hexagons: gpd.GeoDataFrame) -> None:
    tile = tile_of(108.37, 22.82, 10)
    source = TileSource(hexagons, ids=[int(h, 16) for h in hexagons["h3"]])
    doc = json.loads(geojson_tile(source, *tile))
    assert doc["type"] == "FeatureCollection" and doc["features"]
    west, south, east, north = tile_bounds_lonlat(*tile)
    pad_lon, pad_lat = (east - west) * BUFFER / EXTENT, (north - south) * BUFFER / EXTENT
    mvt = mapbox_vector_tile.decode(vector_tile(source, "h", *tile))["h"]["features"]
    assert {f["id"] for f in doc["features"]} == {f["id"] for f in mvt}
    by_h3 = hexagons.set_index("h3")
    for feature in doc["features"]:
        geometry = to_shape(feature["geometry"])
        w, s, e, n = geometry.bounds
        assert w >= west - 1.01 * pad_lon and e <= east + 1.01 * pad_lon
        assert s >= south - 1.01 * pad_lat and n <= north + 1.01 * pad_lat
        assert signed_area(feature["geometry"]["coordinates"][0]) > 0  # counter-clockwise
        source_geometry = by_h3.geometry[feature["properties"]["h3"]]
        assert source_geometry.buffer(1e-6).contains(geometry)  # a clip of its source
        assert feature["properties"]["cases"] == by_h3.loc[feature["properties"]["h3"], "cases"]


def test_tilejson_document() -> None:
    doc = tilejson(
        "cases",
        "http://x/tiles/cases/{z}/{x}/{y}.mvt?period=2024",
        (104.5, 20.9, 112.1, 26.4),
        maxzoom=16,
        fields={"case_id": "String"},
        extra={"provenance": {"data_version": 3}},
    )
    assert doc["tilejson"] == "3.0.0" and doc["tiles"] == [
        "http://x/tiles/cases/{z}/{x}/{y}.mvt?period=2024"
    ]
    assert doc["vector_layers"][0]["id"] == "cases" and doc["provenance"]["data_version"] == 3
    lon, lat, zoom = doc["center"]
    assert 104.5 < lon < 112.1 and 20.9 < lat < 26.4 and 0 <= zoom <= 16
