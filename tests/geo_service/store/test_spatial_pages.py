"""The H3 ranges a bbox page is read over hold every record in the box."""

from __future__ import annotations

import itertools

import h3
import numpy as np
import pytest

from geo_service.store.spatial_pages import COVER_MAX_DEG, cover_ranges


def _inside(ranges: list[tuple[int, int]], cell: int) -> bool:
    return any(low <= cell <= high for low, high in ranges)


@pytest.mark.parametrize("seed", range(4))
def test_every_point_of_a_box_is_in_its_ranges(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(25):
        size = 10 ** rng.uniform(-3.5, 0.8)  # a few metres to six degrees across
        west = rng.uniform(-170, 160)
        south = rng.uniform(-70, 60)
        bbox = (west, south, west + size * rng.uniform(0.3, 1), south + size * rng.uniform(0.3, 1))
        ranges = cover_ranges(bbox)
        assert ranges is not None
        assert all(a <= b < c for (a, b), (c, _) in itertools.pairwise(ranges))
        lon = rng.uniform(bbox[0], bbox[2], 300)
        lat = rng.uniform(bbox[1], bbox[3], 300)
        # the corners and edges too: the box takes them in
        lon = np.concatenate([lon, [bbox[0], bbox[2], bbox[0], bbox[2]], lon[:20]])
        lat = np.concatenate([lat, [bbox[1], bbox[1], bbox[3], bbox[3]], np.full(20, bbox[3])])
        missed = [
            (x, y)
            for x, y in zip(lon, lat, strict=True)
            if not _inside(ranges, h3.str_to_int(h3.latlng_to_cell(y, x, 15)))
        ]
        assert missed == [], (bbox, missed[:3])


def test_the_ranges_are_few_and_narrow() -> None:
    nanning = (108.2, 22.7, 108.6, 23.0)
    ranges = cover_ranges(nanning)
    assert ranges is not None and len(ranges) <= 32
    # they hold far fewer res-15 cells than Guangxi's: the scans read the box, not the region
    guangxi = cover_ranges((104.45, 20.9, 112.1, 26.4))
    assert guangxi is not None
    span = sum(b - a for a, b in ranges)
    assert span * 20 < sum(b - a for a, b in guangxi)


def test_a_box_too_large_is_not_covered() -> None:
    assert cover_ranges((0.0, 0.0, COVER_MAX_DEG + 1, 1.0)) is None
    assert cover_ranges((100.0, 0.0, 99.0, 1.0)) is None  # west of its west edge
