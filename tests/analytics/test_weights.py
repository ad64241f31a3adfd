"""Spatial weights: H3 rings against h3-py, contiguity against libpysal, cells of polygons."""

from __future__ import annotations

import warnings
from typing import Any, Literal

import h3
import numpy as np
import pytest
import shapely
from numpy.testing import assert_array_equal
from shapely.geometry import MultiPolygon, Point, Polygon, box

from analytics.errors import AnalyticsError
from analytics.weights import (
    WeightsError,
    cells_in_polygon,
    h3_ring_weights,
    polygon_contiguity_weights,
)

NANNING = h3.latlng_to_cell(22.8170, 108.3665, 8)


def _ints(cells: list[str]) -> np.ndarray:
    return np.array([h3.str_to_int(c) for c in cells], dtype=np.int64)


def _brute_force(cells: np.ndarray, k: int, include_self: bool) -> np.ndarray:
    strings = [h3.int_to_str(int(c)) for c in cells]
    dense = np.zeros((len(strings), len(strings)))
    for i, a in enumerate(strings):
        disk = set(h3.grid_disk(a, k))
        for j, b in enumerate(strings):
            if (i != j or include_self) and b in disk:
                dense[i, j] = 1.0
    return dense


@pytest.mark.parametrize(("k", "include_self"), [(1, True), (1, False), (2, True)])
def test_ring_weights_equal_grid_distance(k: int, include_self: bool) -> None:
    rng = np.random.default_rng(3)
    cells = rng.permutation(_ints(list(h3.grid_disk(NANNING, 4))))
    cells = cells[rng.random(cells.size) < 0.8]  # holes: missing neighbours stay absent
    w = h3_ring_weights(cells, k=k, include_self=include_self)
    assert w.format == "csr" and w.dtype == np.float64 and w.has_sorted_indices
    assert_array_equal(w.toarray(), _brute_force(cells, k, include_self))


def test_ring_counts_in_a_disk() -> None:
    cells = _ints(list(h3.grid_disk(NANNING, 2)))
    w = h3_ring_weights(cells)
    assert (w != w.T).nnz == 0
    ring = {h3.str_to_int(c): d for d in range(3) for c in h3.grid_ring(NANNING, d)}
    totals = dict(zip(cells.tolist(), w.sum(axis=1).tolist(), strict=True))
    assert all(totals[c] == 7 for c in totals if ring[c] < 2)
    # the outer ring: 6 corners see 1 inner + 2 ring cells, 6 edges 2 + 2 (+ self)
    outer = sorted(totals[c] for c in totals if ring[c] == 2)
    assert outer == [4.0] * 6 + [5.0] * 6


def test_ring_weights_around_a_pentagon() -> None:
    pentagon = next(p for p in h3.get_pentagons(6))
    cells = _ints(list(h3.grid_disk(pentagon, 2)))
    w = h3_ring_weights(cells)
    assert_array_equal(w.toarray(), _brute_force(cells, 1, True))
    assert w.sum(axis=1)[cells.tolist().index(h3.str_to_int(pentagon))] == 6


def test_ring_weights_edge_cases() -> None:
    assert h3_ring_weights(np.array([], dtype=np.int64)).shape == (0, 0)
    far = _ints([NANNING, h3.latlng_to_cell(25.0, 110.0, 8)])
    assert_array_equal(h3_ring_weights(far).toarray(), np.eye(2))
    assert h3_ring_weights(far, k=0, include_self=False).nnz == 0


@pytest.mark.parametrize(
    ("cells", "k", "message"),
    [
        (_ints([NANNING, NANNING]), 1, "duplicate"),
        (_ints([NANNING, h3.latlng_to_cell(22.8, 108.3, 7)]), 1, "resolution"),
        (np.array([12345], dtype=np.int64), 1, "invalid"),
        (_ints([NANNING]), -1, "non-negative"),
        (np.array([1.5]), 1, "integer"),
    ],
)
def test_ring_weights_reject_bad_input(cells: np.ndarray, k: int, message: str) -> None:
    with pytest.raises(WeightsError, match=message) as info:
        h3_ring_weights(cells, k=k)
    assert isinstance(info.value, AnalyticsError) and isinstance(info.value, ValueError)


def _libpysal(geoms: list[Any], rule: str) -> np.ndarray:
    from libpysal.weights import Queen, Rook

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cls = Queen if rule == "queen" else Rook
        return (cls.from_iterable(geoms).full()[0] > 0).astype(float)


@pytest.mark.parametrize("rule", ["queen", "rook"])
def test_contiguity_on_a_grid_matches_libpysal(rule: Literal["queen", "rook"]) -> None:
    squares = [box(x, y, x + 1, y + 1) for x in range(6) for y in range(4)]
    got = polygon_contiguity_weights(squares, rule, include_self=False).toarray()
    assert_array_equal(got, _libpysal(squares, rule))
    corner, inner = 0, 1 * 4 + 1
    assert got[corner].sum() == (3 if rule == "queen" else 2)
    assert got[inner].sum() == (8 if rule == "queen" else 4)
    with_self = polygon_contiguity_weights(squares, rule)
    assert_array_equal(with_self.toarray(), got + np.eye(len(squares)))


@pytest.mark.parametrize("rule", ["queen", "rook"])
def test_contiguity_of_the_bundled_counties_matches_libpysal(
    divisions_gdf: Any, rule: Literal["queen", "rook"]
) -> None:
    counties = divisions_gdf[divisions_gdf["level"] == "county"].reset_index(drop=True)
    got = polygon_contiguity_weights(counties.geometry, rule, include_self=False).toarray()
    assert_array_equal(got, _libpysal(list(counties.geometry), rule))
    assert got.sum(axis=1).min() >= 1  # no county of Guangxi is an island


def test_contiguity_corner_overlap_and_empty() -> None:
    shapes = [
        box(0, 0, 1, 1),
        box(1, 1, 2, 2),  # corner only
        box(0.5, -1, 1.5, 0.2),  # overlaps the first: neighbour under both rules
        Polygon(),
        None,
        MultiPolygon([box(5, 5, 6, 6), box(2.5, 0, 3, 1)]),  # touches nothing
    ]
    queen = polygon_contiguity_weights(shapes, "queen", include_self=False).toarray()
    rook = polygon_contiguity_weights(shapes, "rook", include_self=False).toarray()
    assert queen[0].tolist() == [0, 1, 1, 0, 0, 0]
    assert rook[0].tolist() == [0, 0, 1, 0, 0, 0]
    assert queen[3:].sum() == 0 and rook[3:].sum() == 0
    with pytest.raises(WeightsError, match="rule"):
        polygon_contiguity_weights(shapes, "bishop")  # type: ignore[arg-type]
    with pytest.raises(WeightsError, match="shapely"):
        polygon_contiguity_weights(["POLYGON"])


def _h3py(geom: Polygon | MultiPolygon, resolution: int) -> set[int]:
    return {h3.str_to_int(c) for c in h3.geo_to_cells(geom, resolution)}


def test_cells_in_polygon_with_hole_and_multipolygon() -> None:
    outer = box(108.0, 22.5, 108.4, 22.9)
    holed = Polygon(outer.exterior.coords, [box(108.1, 22.6, 108.3, 22.8).exterior.coords])
    multi = MultiPolygon([holed, box(109.0, 23.0, 109.1, 23.1)])
    for geom in (outer, holed, multi):
        got = cells_in_polygon(geom, 8)
        assert got.dtype == np.int64 and np.all(np.diff(got) > 0)
        assert set(got.tolist()) == _h3py(geom, 8)
    got = cells_in_polygon(multi, 8)
    centres = np.array([h3.cell_to_latlng(h3.int_to_str(int(c)))[::-1] for c in got])
    assert shapely.contains_xy(multi, centres[:, 0], centres[:, 1]).all()
    # complete: every cell of a larger box whose centre lies in the shape is there
    bigger = cells_in_polygon(box(107.9, 22.4, 109.2, 23.2), 8)
    lonlat = np.array([h3.cell_to_latlng(h3.int_to_str(int(c)))[::-1] for c in bigger])
    inside = bigger[shapely.contains_xy(multi, lonlat[:, 0], lonlat[:, 1])]
    assert_array_equal(np.sort(inside), got)


def test_cells_in_polygon_edge_cases() -> None:
    assert cells_in_polygon(Polygon(), 8).size == 0
    assert cells_in_polygon(box(108.0, 22.0, 108.0001, 22.0001), 5).size == 0
    with pytest.raises(WeightsError, match="WGS84"):
        cells_in_polygon(box(500_000, 2_500_000, 510_000, 2_510_000), 8)
    with pytest.raises(WeightsError, match="Polygon"):
        cells_in_polygon(Point(108, 22), 8)
    with pytest.raises(WeightsError, match="resolution"):
        cells_in_polygon(box(108, 22, 109, 23), 16)
