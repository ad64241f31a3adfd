"""Local Moran's I against esda's Moran_Local, the exact permutation null, FDR types, edges."""

from __future__ import annotations

import warnings
from itertools import combinations
from typing import Any

import h3
import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from shapely.geometry import box

from analytics.hotspots import getis_ord_gi_star
from analytics.local_moran import (
    NOT_SIGNIFICANT,
    TYPE_LABELS,
    LocalMoranError,
    cell_local_moran,
    cluster_outlier_types,
    local_moran,
    polygon_local_moran,
)
from analytics.weights import h3_ring_weights, polygon_contiguity_weights

CENTRE = h3.latlng_to_cell(22.8170, 108.3665, 8)


def _disk(k: int) -> np.ndarray:
    return np.array([h3.str_to_int(c) for c in h3.grid_disk(CENTRE, k)], dtype=np.int64)


def _esda(y: np.ndarray, w: Any, **kwargs: Any) -> Any:
    """esda's Moran_Local on a libpysal W built from our sparse matrix."""
    from esda.moran import Moran_Local
    from libpysal.weights import WSP

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lw = WSP(sp.csr_matrix(w)).to_W(silence_warnings=True)
        return Moran_Local(y, lw, **kwargs)


def _field(cells: np.ndarray, seed: int) -> np.ndarray:
    """Continuous values (no ties): a gamma background with a bump and a hole."""
    lat, lng = np.array([h3.cell_to_latlng(h3.int_to_str(int(c))) for c in cells]).T
    bump = np.exp(-(((lat - lat.mean()) / 0.02) ** 2 + ((lng - lng.mean() - 0.03) / 0.02) ** 2))
    hole = np.exp(-(((lat - lat.mean() + 0.03) / 0.02) ** 2 + ((lng - lng.mean()) / 0.02) ** 2))
    return np.random.default_rng(seed).gamma(2.0, 1.0 + 3.0 * bump - 0.8 * hole)


@pytest.mark.parametrize(("transform", "esda_transform"), [("R", "r"), ("B", "b")])
def test_statistic_moments_and_quadrants_equal_esda_on_h3_weights(
    transform: Any, esda_transform: str
) -> None:
    cells = np.random.default_rng(0).permutation(_disk(9))
    y = np.random.default_rng(1).poisson(np.linspace(0.2, 6.0, cells.size)).astype(float)
    w = h3_ring_weights(cells, include_self=False)
    ours = local_moran(y, w, transform=transform)
    ref = _esda(y, w, transformation=esda_transform, permutations=0)
    assert_allclose(ours.Is, ref.Is, rtol=1e-12, atol=1e-13)
    assert_allclose(ours.EI, ref.EI, rtol=1e-12)
    assert_allclose(ours.VI, ref.VI, rtol=1e-10)
    # esda stores the moments, not the z: the analytic z is (Is - EI) / sqrt(VI)
    assert_allclose(ours.z, (ref.Is - ref.EI) / np.sqrt(ref.VI), rtol=1e-10, atol=1e-12)
    assert_array_equal(ours.q, ref.q)
    assert ours.p_sim is None


def test_statistic_equals_esda_on_contiguity_weights_and_ignores_a_diagonal() -> None:
    squares = [box(x, y, x + 1, y + 1) for x in range(12) for y in range(9)]
    y = np.random.default_rng(4).gamma(2.0, 3.0, len(squares))
    w = polygon_contiguity_weights(squares, "queen", include_self=False)
    ref = _esda(y, w, permutations=0)
    with_self = polygon_contiguity_weights(squares, "queen", include_self=True)
    for weights in (w, with_self):  # the focal value is never its own neighbour
        ours = local_moran(y, weights)
        assert_allclose(ours.Is, ref.Is, rtol=1e-12, atol=1e-13)
        assert_allclose(ours.VI, ref.VI, rtol=1e-10)
        assert_array_equal(ours.q, ref.q)
    out = polygon_local_moran(squares, y, permutations=0)
    assert_allclose(out["moran_i"], ref.Is, rtol=1e-12, atol=1e-13)


def test_permutation_p_agrees_with_esda() -> None:
    cells = _disk(11)  # 397 cells
    y = _field(cells, seed=3)
    w = h3_ring_weights(cells, include_self=False)
    ref = _esda(y, w, permutations=999, seed=11, n_jobs=1).p_sim
    ours = local_moran(y, w, permutations=999, seed=5).p_sim
    assert ours is not None
    assert ((ours <= 0.05) == (ref <= 0.05)).mean() > 0.95
    assert (ref <= 0.05).sum() >= 20  # the example does have significant cells
    # each p_sim is a Monte Carlo estimate of the same exact p: within sampling error
    se = np.sqrt(2 * ref * (1 - ref) / 999)
    assert (np.abs(ours - ref) <= 3 * se + 2 / 1000).mean() > 0.99
    assert abs(np.mean(ours - ref)) < 0.02  # shared draws: errors common to all cells


def test_permutation_p_is_the_exact_conditional_null_of_the_statistic() -> None:
    # path graph of 8 values, row-standardised; each I_i enumerated over every draw
    y = np.array([4.0, 1.0, 7.0, 2.0, 9.0, 3.0, 5.0, 6.5])
    n = y.size
    w = sp.csr_array(sp.diags_array([np.ones(n - 1), np.ones(n - 1)], offsets=[-1, 1]))
    result = local_moran(y, w, permutations=20_000, seed=9)
    assert result.p_sim is not None
    z = (y - y.mean()) / y.std()
    scale = (n - 1) / np.sum(z**2)
    for i in range(n):
        neighbours = [j for j in (i - 1, i + 1) if 0 <= j < n]
        others = np.delete(z, i)
        sims = np.array([scale * z[i] * np.mean(c) for c in combinations(others, len(neighbours))])
        observed = result.Is[i]
        exact = min((sims >= observed - 1e-12).mean(), (sims <= observed + 1e-12).mean())
        se = np.sqrt(exact * (1 - exact) / 20_000)
        assert abs(result.p_sim[i] - exact) < 4 * se + 1e-3


def test_same_seed_same_pseudo_p_as_gi_star() -> None:
    """Both statistics are monotone in the neighbours' sum: one permutation test."""
    cells = _disk(6)
    y = _field(cells, seed=2)
    lm = local_moran(y, h3_ring_weights(cells, include_self=False), permutations=199, seed=7)
    gi = getis_ord_gi_star(y, h3_ring_weights(cells), permutations=199, seed=7)
    assert lm.p_sim is not None and gi.p_sim is not None
    assert_array_equal(lm.p_sim, gi.p_sim)


def test_ties_do_not_make_empty_neighbourhoods_significant() -> None:
    """A designed difference from esda, which counts ties in the upper tail only. With one
    case among 217 cells, a zero cell whose six neighbours are zeros ties ~97 % of the
    draws; esda folds them away and reports the other ~3 % (p_sim ≈ 6/216: "LL"), here
    they count as extreme as observed (p_sim ≈ 0.97)."""
    cells = _disk(8)
    counts = np.zeros(cells.size)
    counts[0] = 5.0
    w = h3_ring_weights(cells, include_self=False)
    ours = local_moran(counts, w, permutations=999, seed=0)
    ref = _esda(counts, w, permutations=999, seed=0, n_jobs=1)
    assert ours.p_sim is not None
    empty = (counts == 0) & ((w @ counts) == 0) & (ours.n_neighbors == 6)
    assert empty.sum() > 100
    assert (ref.p_sim[empty] <= 0.05).all()  # esda: every all-zero neighbourhood "LL"
    assert (ours.p_sim[empty] > 0.9).all()
    out = cell_local_moran(cells, counts, seed=0)
    assert (out.loc[empty, "co_type"] == NOT_SIGNIFICANT).all()


def test_planted_cluster_cold_area_and_outlier_get_their_types() -> None:
    squares = [box(x, y, x + 1, y + 1) for x in range(12) for y in range(12)]
    rng = np.random.default_rng(8)
    values = rng.normal(10.0, 1.0, len(squares))
    xs = np.array([x for x in range(12) for _ in range(12)])
    ys = np.array([y for _ in range(12) for y in range(12)])
    outlier = 1 * 12 + 1
    high = (xs < 4) & (ys < 4) & (np.arange(len(squares)) != outlier)
    low = (xs >= 8) & (ys >= 8)
    values[high] += 8.0
    values[low] -= 8.0
    values[outlier] = 4.0  # a low square inside the high block
    out = polygon_local_moran(squares, values, seed=3)
    assert list(out.columns) == [
        "value",
        "moran_i",
        "moran_z",
        "moran_p",
        "moran_p_sim",
        "quadrant",
        "co_type",
        "co_label",
        "n_neighbors",
    ]
    assert (out.loc[high, "co_type"] == "HH").mean() >= 0.75
    assert (out.loc[low, "co_type"] == "LL").mean() >= 0.75
    assert out.loc[outlier, "co_type"] == "LH"
    assert out["co_label"].tolist() == [TYPE_LABELS[t] for t in out["co_type"]]
    far = ~(high | low) & (np.arange(len(squares)) != outlier)
    assert (out.loc[far, "co_type"] == NOT_SIGNIFICANT).mean() > 0.85
    parameters = out.attrs["parameters"]
    assert parameters["fdr"] is True and parameters["permutations"] == 9999
    assert parameters["significance_from"] == "p_sim"


def test_fdr_types_are_stricter_than_plain_ones() -> None:
    cells = _disk(10)
    y = _field(cells, seed=6)
    plain = cell_local_moran(cells, y, seed=1, fdr=False)["co_type"] != NOT_SIGNIFICANT
    corrected = cell_local_moran(cells, y, seed=1)["co_type"] != NOT_SIGNIFICANT
    assert (corrected <= plain).all() and corrected.sum() < plain.sum()
    q, p = [1, 3, 4, 2], [0.001, 0.3, 0.2, 0.004]
    assert cluster_outlier_types(q, p, fdr=False).tolist() == [
        "HH",
        NOT_SIGNIFICANT,
        NOT_SIGNIFICANT,
        "LH",
    ]


def test_islands_constant_values_and_bad_input() -> None:
    two_far = np.array(
        [h3.str_to_int(CENTRE), h3.str_to_int(h3.latlng_to_cell(25.0, 110.0, 8))], dtype=np.int64
    )
    out = cell_local_moran(two_far, [3.0, 0.0], permutations=99, seed=1)
    assert out["n_neighbors"].tolist() == [0, 0]
    assert out["moran_p_sim"].tolist() == [1.0, 1.0]
    assert out["co_type"].tolist() == [NOT_SIGNIFICANT] * 2
    cells = _disk(3)
    flat = local_moran(np.full(cells.size, 2.0), h3_ring_weights(cells), permutations=9)
    assert_array_equal(flat.Is, 0.0)
    assert_array_equal(flat.p, 1.0)
    assert flat.p_sim is not None and (flat.p_sim == 1.0).all()
    empty = local_moran(np.array([]), sp.csr_array((0, 0)), permutations=9)
    assert empty.Is.size == 0 and empty.p_sim is None
    weighted = sp.csr_array(np.array([[0, 2.0], [2.0, 0]]))
    with pytest.raises(LocalMoranError, match="binary"):
        local_moran([1.0, 2.0], weighted, permutations=9)
    for values, weights, kwargs, message in (
        ([1.0, np.nan], sp.eye_array(2), {}, "finite"),
        ([1.0, 2.0], sp.eye_array(3), {}, "match"),
        ([1.0, 2.0], np.eye(2), {}, "sparse"),
        ([1.0, 2.0], -sp.eye_array(2), {}, "non-negative"),
        ([1.0, 2.0], sp.eye_array(2), {"permutations": -1}, "permutations"),
        ([1.0, 2.0], sp.eye_array(2), {"transform": "D"}, "transform"),
    ):
        with pytest.raises(LocalMoranError, match=message):
            local_moran(values, weights, **kwargs)
