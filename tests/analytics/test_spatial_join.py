"""Point-in-polygon assignment against a brute-force check."""

from __future__ import annotations

import numpy as np
import shapely
from numpy.testing import assert_array_equal
from shapely.geometry import box

from analytics.spatial_join import points_to_polygons


def test_matches_brute_force_on_a_grid_of_boxes() -> None:
    polygons = [box(x, y, x + 1, y + 1) for x in range(5) for y in range(4)]
    rng = np.random.default_rng(7)
    lon, lat = rng.uniform(-1, 6, 5000), rng.uniform(-1, 5, 5000)
    got = points_to_polygons(lon, lat, polygons)
    points = shapely.points(lon, lat)
    inside = np.array([[p.intersects(poly) for poly in polygons] for p in points])
    expected = np.where(inside.any(axis=1), inside.argmax(axis=1), -1)
    assert_array_equal(got, expected)
    assert (got == -1).sum() > 0 and (got >= 0).sum() > 0


def test_nan_points_and_empty_inputs() -> None:
    assert points_to_polygons([np.nan, 0.5], [0.5, 0.5], [box(0, 0, 1, 1)]).tolist() == [-1, 0]
    assert points_to_polygons([], [], [box(0, 0, 1, 1)]).tolist() == []
    assert points_to_polygons([0.5], [0.5], []).tolist() == [-1]
