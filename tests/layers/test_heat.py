"""Heat tiles: a density surface in the equal-area CRS resampled to Web Mercator PNG tiles
with one colour scale per surface, and its legend."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
from PIL import Image

from analytics.density import DensitySurface, Grid
from analytics.projection import equal_area_to_lonlat, lonlat_to_equal_area
from layers.heat import RAMP, HeatScale, HeatSource, heat_scale, heat_tile, legend_png
from layers.rasters import BAND_SHARES
from layers.tiles import lonlat_to_mercator, tile_bounds_lonlat, tile_bounds_m

CENTRE = (108.37, 22.82)  # Nanning


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int, int]:
    n = 2**z
    y = (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n
    return z, int((lon + 180) / 360 * n), int(y)


@pytest.fixture(scope="module")
def surface() -> DensitySurface:
    """A gaussian bump of 2 cases/km² at its peak, 20 km wide, on 500 m cells."""
    cx, cy = lonlat_to_equal_area([CENTRE[0]], [CENTRE[1]])
    grid = Grid(float(cx[0]) - 100_000, float(cy[0]) + 100_000, 500.0, 400, 400)
    xs, ys = grid.centres()
    d2 = (xs[None, :] - cx[0]) ** 2 + (ys[:, None] - cy[0]) ** 2
    values = 2.0 * np.exp(-d2 / (2 * 20_000.0**2))
    return DensitySurface(values, grid, 20_000.0, "gaussian", 100, 100.0)


def png(data: bytes) -> np.ndarray:
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG" and image.mode == "RGBA" and image.size == (256, 256)
    return np.asarray(image)


def test_breaks_are_shares_of_the_peak(surface: DensitySurface) -> None:
    scale = heat_scale(surface)
    peak = float(surface.values.max())
    assert scale.breaks == pytest.approx([peak * s for s in BAND_SHARES], rel=5e-3)
    assert scale.colours == RAMP and scale.units == "cases per km²"
    assert list(scale.breaks) == sorted(scale.breaks)


def test_colours_interpolate_between_breaks_and_vanish_below() -> None:
    scale = HeatScale((1.0, 3.0), ((0, 0, 0, 100), (200, 100, 50, 200)), "cases per km²")
    rgba = scale.colourize(np.array([0.0, 0.99, 1.0, 2.0, 3.0, 9.0]))
    assert rgba[:2].tolist() == [[0, 0, 0, 0]] * 2  # transparent where density is ~0
    assert rgba[2:].tolist() == [
        [0, 0, 0, 100],
        [100, 50, 25, 150],
        [200, 100, 50, 200],
        [200, 100, 50, 200],
    ]


def test_tile_over_the_peak_shows_the_top_colour_there(surface: DensitySurface) -> None:
    source = HeatSource(surface)
    tile = tile_of(*CENTRE, 9)
    pixels = png(heat_tile(source, *tile))
    min_x, _, max_x, max_y = tile_bounds_m(*tile)
    mx, my = lonlat_to_mercator([CENTRE[0]], [CENTRE[1]])
    col = int((mx[0] - min_x) / (max_x - min_x) * 256)
    row = int((max_y - my[0]) / (max_x - min_x) * 256)
    assert tuple(pixels[row, col]) == source.scale.colours[-1]  # above the last break
    alpha = pixels[..., 3].astype(int)
    assert alpha[row, col] == alpha.max()
    # alpha falls away from the peak along the row
    profile = alpha[row, col:]
    assert (np.diff(profile) <= 0).all()


def test_samples_reproduce_the_surface_at_cell_centres(surface: DensitySurface) -> None:
    source = HeatSource(surface)
    xs, ys = surface.grid.centres()
    rows, cols = np.array([10, 200, 333]), np.array([50, 200, 399])
    lon, lat = equal_area_to_lonlat(xs[cols], ys[rows])
    mx, my = lonlat_to_mercator(lon, lat)
    sampled = source.sample(mx, my, pixel_m=100.0)  # finer than a cell: the full surface
    assert sampled == pytest.approx(surface.values[rows, cols], rel=1e-6)
    far_x, far_y = lonlat_to_mercator([80.0], [40.0])
    assert source.sample(far_x, far_y, pixel_m=100.0).tolist() == [0.0]


def test_neighbouring_tiles_agree_along_their_edge(surface: DensitySurface) -> None:
    source = HeatSource(surface)
    z, x, y = tile_of(CENTRE[0] - 0.05, CENTRE[1], 10)
    left, right = png(heat_tile(source, z, x, y)), png(heat_tile(source, z, x + 1, y))
    shown = (left[:, -1, 3] > 0) & (right[:, 0, 3] > 0)
    assert shown.sum() > 100
    gap = np.abs(left[shown, -1].astype(int) - right[shown, 0].astype(int))
    assert gap.max() <= 6  # one pixel apart on one fixed scale: nearly the same colour


def test_tiles_away_from_the_surface_are_empty(surface: DensitySurface) -> None:
    source = HeatSource(surface)
    assert heat_tile(source, *tile_of(80.0, 40.0, 8)) == b""  # outside the grid
    west, south, east, north = source.bounds_lonlat
    assert west < CENTRE[0] < east and south < CENTRE[1] < north
    corner = tile_of(west + 0.01, north - 0.01, 12)  # inside the grid, density ~0 there
    assert tile_bounds_lonlat(*corner)[0] < west + 0.02
    assert heat_tile(source, *corner) == b""


def test_low_zooms_sample_a_coarser_copy(surface: DensitySurface) -> None:
    source = HeatSource(surface)
    cells = [level.cell_m for level in source.levels]
    assert cells[:3] == [500.0, 1000.0, 2000.0]
    pixels = png(heat_tile(source, *tile_of(*CENTRE, 5)))  # a pixel is ~4.5 km here
    assert pixels[..., 3].any()


def test_legend(surface: DensitySurface) -> None:
    scale = heat_scale(surface)
    legend = scale.legend("案件密度", kernel="gaussian")
    assert legend["breaks"] == list(scale.breaks) and len(legend["colours"]) == len(RAMP)
    assert legend["colours"][0] == "#ffffcc" and legend["classes"][-1]["to"] is None
    assert legend["transparent_below"] == scale.breaks[0] and legend["kernel"] == "gaussian"
    image = Image.open(io.BytesIO(legend_png(scale)))
    assert image.format == "PNG" and image.width > 100
