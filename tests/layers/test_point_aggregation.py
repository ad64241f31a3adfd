"""Crowded point tiles carry aggregated points: counts per cell of a grid over the tile, at
the mean position of the cell's points (checked against pyproj and direct counts)."""

from __future__ import annotations

import json
import math

import geopandas as gpd
import mapbox_vector_tile
import numpy as np
import pytest
import shapely
from pyproj import Transformer

from layers.tiles import (
    AGGREGATE_CELL,
    AGGREGATED,
    TileError,
    TileSource,
    bin_points,
    geojson_tile,
    tile_bounds_lonlat,
    tile_bounds_m,
    tile_grid,
    vector_tile,
)
from layers.vector_tiles import EXTENT

TO_3857 = Transformer.from_crs(4326, 3857, always_xy=True)
Y_DOWN = {"y_coord_down": True}
NANNING = (108.37, 22.82)
SUMS = {"penalty_sum": "penalty_amount"}


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int, int]:
    n = 2**z
    y = (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n
    return z, int((lon + 180) / 360 * n), int(y)


@pytest.fixture(scope="module")
def points() -> gpd.GeoDataFrame:
    """6,000 points around Nanning, half of them in a dense knot, with amounts (some missing)."""
    rng = np.random.default_rng(11)
    n = 6_000
    spread = np.where(np.arange(n) % 2 == 0, 0.6, 0.02)
    lon = NANNING[0] + rng.normal(0, 1, n) * spread
    lat = NANNING[1] + rng.normal(0, 1, n) * spread
    amount = rng.integers(1, 500, n) * 100.0
    amount[::7] = np.nan
    return gpd.GeoDataFrame(
        {"case_id": [f"C{i}" for i in range(n)], "penalty_amount": amount},
        geometry=gpd.points_from_xy(lon, lat),
        crs=4326,
    )


@pytest.fixture(scope="module")
def source(points: gpd.GeoDataFrame) -> TileSource:
    return TileSource(points, id_column="case_id")


def inside_tile(points: gpd.GeoDataFrame, tile: tuple[int, int, int]) -> gpd.GeoDataFrame:
    """The points in the tile itself, counted directly: west ≤ lon < east, south ≤ lat < north."""
    west, south, east, north = tile_bounds_lonlat(*tile)
    lon, lat = points.geometry.x, points.geometry.y
    return points[(lon >= west) & (lon < east) & (lat >= south) & (lat < north)]


def tile_units(lon: np.ndarray, lat: np.ndarray, tile: tuple[int, int, int]) -> np.ndarray:
    """Positions in tile units (y down) by pyproj."""
    min_x, _, max_x, max_y = tile_bounds_m(*tile)
    scale = EXTENT / (max_x - min_x)
    x, y = TO_3857.transform(lon, lat)
    return np.column_stack([(np.asarray(x) - min_x) * scale, (max_y - np.asarray(y)) * scale])


def decoded(data: bytes, layer: str = "cases") -> list[dict]:
    return mapbox_vector_tile.decode(data, default_options=Y_DOWN)[layer]["features"]


def test_a_crowded_tile_carries_counted_cells(points: gpd.GeoDataFrame, source: TileSource) -> None:
    tile = tile_of(*NANNING, 9)
    inside = inside_tile(points, tile)
    cap = 500
    assert len(inside) > cap  # the tile is crowded
    features = decoded(vector_tile(source, "cases", *tile, max_points=cap, sums=SUMS))
    assert all(f["properties"][AGGREGATED] is True for f in features)
    assert all(f["geometry"]["type"] == "Point" for f in features)
    assert sum(f["properties"]["count"] for f in features) == len(inside)
    assert len(features) <= (EXTENT // AGGREGATE_CELL) ** 2 and len(features) < len(inside)
    # the cells counted independently: pyproj positions, floor(units / cell), row by row
    units = tile_units(inside.geometry.x.to_numpy(), inside.geometry.y.to_numpy(), tile)
    cells = np.floor(units / AGGREGATE_CELL).astype(int)
    amounts = inside["penalty_amount"].to_numpy()
    expected = sorted({(int(cx), int(cy)) for cx, cy in cells}, key=lambda c: (c[1], c[0]))
    assert len(features) == len(expected)
    for f, cell in zip(features, expected, strict=True):
        members = (cells == np.array(cell)).all(axis=1)
        assert f["properties"]["count"] == members.sum()
        x, y = f["geometry"]["coordinates"]
        assert 0 <= x <= EXTENT and 0 <= y <= EXTENT  # inside the tile
        mean = units[members].mean(axis=0)  # at the mean of its points
        assert abs(x - mean[0]) <= 1 and abs(y - mean[1]) <= 1
        if np.isnan(amounts[members]).all():
            assert "penalty_sum" not in f["properties"]  # no amount: no value
        else:
            assert f["properties"]["penalty_sum"] == pytest.approx(np.nansum(amounts[members]))


def test_a_tile_under_the_cap_is_unchanged(points: gpd.GeoDataFrame, source: TileSource) -> None:
    tile = tile_of(*NANNING, 12)
    n_inside = len(inside_tile(points, tile))
    assert 0 < n_inside < 2_000
    plain = vector_tile(source, "cases", *tile)
    assert vector_tile(source, "cases", *tile, max_points=n_inside, sums=SUMS) == plain
    assert geojson_tile(source, *tile, max_points=n_inside) == geojson_tile(source, *tile)
    assert all(AGGREGATED not in f["properties"] for f in decoded(plain))
    # one record more than the cap and the same tile is aggregated
    over = decoded(vector_tile(source, "cases", *tile, max_points=n_inside - 1))
    assert all(f["properties"][AGGREGATED] for f in over)
    assert sum(f["properties"]["count"] for f in over) == n_inside


def test_the_geojson_tile_has_the_same_cells(points: gpd.GeoDataFrame, source: TileSource) -> None:
    tile = tile_of(*NANNING, 8)
    mvt = decoded(vector_tile(source, "cases", *tile, max_points=100, sums=SUMS))
    doc = json.loads(geojson_tile(source, *tile, max_points=100, sums=SUMS))
    assert [f["properties"]["count"] for f in doc["features"]] == [
        f["properties"]["count"] for f in mvt
    ]
    west, south, east, north = tile_bounds_lonlat(*tile)
    lon = np.array([f["geometry"]["coordinates"][0] for f in doc["features"]])
    lat = np.array([f["geometry"]["coordinates"][1] for f in doc["features"]])
    assert ((lon >= west) & (lon <= east) & (lat >= south) & (lat <= north)).all()
    units = tile_units(lon, lat, tile)
    positions = np.array([f["geometry"]["coordinates"] for f in mvt])
    assert np.abs(units - positions).max() <= 1
    assert all(f["properties"][AGGREGATED] is True and "id" not in f for f in doc["features"])


def test_every_point_is_counted_in_exactly_one_tile(
    points: gpd.GeoDataFrame, source: TileSource
) -> None:
    z = 7
    lon, lat = points.geometry.x.to_numpy(), points.geometry.y.to_numpy()
    tiles = {tile_of(a, b, z) for a, b in zip(lon, lat, strict=True)}
    # and the tiles around them, on whose edges points may fall
    tiles |= {(z, x + dx, y + dy) for _, x, y in tiles for dx in (-1, 0, 1) for dy in (-1, 0, 1)}
    assert len(tiles) >= 9
    total = 0
    for tile in tiles:
        bins = source.point_bins(*tile, SUMS)
        assert len(source.in_tile(*tile)) == int(bins.count.sum())
        total += int(bins.count.sum())
    assert total == len(points)


def test_points_on_the_grid_edges_go_east_and_north() -> None:
    tile = (10, 820, 449)
    lon_edges, lat_edges = tile_grid(*tile)
    assert np.all(np.diff(lon_edges) > 0) and np.all(np.diff(lat_edges) > 0)
    west, south, east, north = tile_bounds_lonlat(*tile)
    assert [lon_edges[0], lat_edges[0], lon_edges[-1], lat_edges[-1]] == pytest.approx(
        [west, south, east, north], abs=1e-12
    )
    # a tile's east and north edges are its neighbours' west and south edges, to the bit
    assert tile_grid(10, 821, 449)[0][0] == lon_edges[-1]
    assert tile_grid(10, 820, 448)[1][0] == lat_edges[-1]
    lon = [lon_edges[0], lon_edges[3], lon_edges[-1], lon_edges[5]]
    lat = [lat_edges[0], lat_edges[4], lat_edges[10], lat_edges[-1]]
    bins = bin_points(lon, lat, *tile)
    # (west edge, south edge) → first column, bottom row; an east or north edge: not this tile
    assert list(zip(bins.column.tolist(), bins.row.tolist(), strict=True)) == [(3, 27), (0, 31)]
    assert bins.count.tolist() == [1, 1]


def test_polygons_are_never_aggregated() -> None:
    squares = gpd.GeoDataFrame(
        geometry=[shapely.box(108 + i / 100, 22, 108.005 + i / 100, 22.005) for i in range(50)],
        crs=4326,
    )
    source = TileSource(squares)
    tile = tile_of(108.2, 22.0, 8)
    assert not source.points
    assert vector_tile(source, "s", *tile, max_points=1) == vector_tile(source, "s", *tile)
    with pytest.raises(TileError):
        source.in_tile(*tile)


def test_points_without_geometry_are_left_out() -> None:
    frame = gpd.GeoDataFrame(
        {"v": [1.0, 2.0, 3.0]},
        geometry=[shapely.Point(108.3, 22.8), None, shapely.Point(108.31, 22.8)],
        crs=4326,
    )
    source = TileSource(frame)
    tile = tile_of(108.3, 22.8, 6)
    assert source.points and len(source.in_tile(*tile)) == 2
    features = decoded(vector_tile(source, "p", *tile, max_points=1, sums={"v_sum": "v"}), "p")
    assert [(f["properties"]["count"], f["properties"]["v_sum"]) for f in features] == [(2, 4.0)]


def test_an_aggregation_cell_must_divide_the_extent() -> None:
    for cell in (100, 4096 // 3, 0):
        with pytest.raises(TileError):
            tile_grid(3, 1, 1, cell=cell)
    # the tile's own edges do not depend on the cells, and are those of tile_bounds_m
    coarse, fine = tile_grid(11, 1645, 884, cell=2048), tile_grid(11, 1645, 884, cell=16)
    for a, b in zip(coarse, fine, strict=True):
        assert (a[0], a[-1]) == (b[0], b[-1])
    west, _, _, north = tile_bounds_lonlat(11, 1645, 884)
    assert (fine[0][0], fine[1][-1]) == (west, north)


def test_points_on_tile_edges_are_counted_once() -> None:
    """Points placed exactly on the edges between tiles (and cells) of a zoom: each one is
    in exactly one tile, the one to its east and north."""
    z, x0, y0 = 9, 411, 221
    lon, lat = [], []
    for dx in (0, 1, 2):
        for dy in (0, 1, 2):
            lon_edges, lat_edges = tile_grid(z, x0 + dx, y0 + dy)
            lon += [*lon_edges[::4], *lon_edges[1::4]]
            lat += [*lat_edges[::4], *lat_edges[2::4]]
    grid_lon, grid_lat = np.meshgrid(np.unique(lon), np.unique(lat))
    frame = gpd.GeoDataFrame(
        geometry=gpd.points_from_xy(grid_lon.ravel(), grid_lat.ravel()), crs=4326
    )
    source = TileSource(frame)
    counted = np.zeros(len(frame), dtype=int)
    for dx in range(-1, 4):
        for dy in range(-1, 4):
            counted[source.in_tile(z, x0 + dx, y0 + dy)] += 1
    assert (counted == 1).all()


def test_the_clusters_map_draws_cases_for_accounts_only() -> None:
    import re

    from layers.maps import AGGREGATE_COLOUR, MapContext, build_map

    def config(records: bool) -> dict:
        ctx = MapContext(
            divisions=(),
            industries=(),
            months=("2024-01",),
            bounds=(104.0, 20.0, 112.0, 26.5),
            filter_names=("jurisdiction", "period"),
            records=records,
        )
        html = build_map("clusters", ctx)
        found = re.search(r"GeoMaps\.init\(\w+, (\{.*?\}), \{ ", html, re.S)
        assert found
        return json.loads(found.group(1))

    assert [layer["id"] for layer in config(False)["layers"]] == ["clusters"]
    shown = config(True)
    assert [layer["id"] for layer in shown["layers"]] == ["clusters", "cases"]
    cases = shown["layers"][1]
    assert cases["path"] == "/tiles/cases/{z}/{x}/{y}.mvt" and cases["popup"] == "properties"
    assert [f[0] for f in cases["aggregate"]["fields"]] == ["count", "penalty_sum"]
    assert any(c["colour"] == AGGREGATE_COLOUR for c in shown["legend"]["classes"])
