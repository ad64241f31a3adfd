"""Gi* against esda, planted clusters, FDR, bins, and the shared-draw permutation test."""

from __future__ import annotations

import warnings
from itertools import combinations
from typing import Any

import h3
import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from scipy import stats
from shapely.geometry import box

from analytics.hotspots import (
    HotspotError,
    cell_hotspots,
    fdr_threshold,
    getis_ord_gi_star,
    gi_bins,
    polygon_hotspots,
)
from analytics.weights import h3_ring_weights, polygon_contiguity_weights

CENTRE = h3.latlng_to_cell(22.8170, 108.3665, 8)


def _disk(k: int, centre: str = CENTRE) -> np.ndarray:
    return np.array([h3.str_to_int(c) for c in h3.grid_disk(centre, k)], dtype=np.int64)


def _esda(y: np.ndarray, w: Any, **kwargs: Any) -> Any:
    """esda's G_Local(star=True) on a libpysal W built from our sparse matrix."""
    from esda.getisord import G_Local
    from libpysal.weights import WSP

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lw = WSP(sp.csr_matrix(w)).to_W(silence_warnings=True)
        return G_Local(y, lw, transform="B", star=True, **kwargs)


def _planted_counts(cells: np.ndarray, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Poisson(1) background; a cluster of 7 cells (a centre and its ring) at rate 12."""
    rng = np.random.default_rng(seed)
    counts = rng.poisson(1.0, cells.size).astype(float)
    hot = np.isin(cells, _disk(1, h3.cell_to_center_child(h3.cell_to_parent(CENTRE, 6), 8)))
    counts[hot] = rng.poisson(12.0, hot.sum())
    return counts, hot


@pytest.mark.parametrize("include_self", [True, False])
def test_z_equals_esda_on_h3_weights(include_self: bool) -> None:
    cells = np.random.default_rng(0).permutation(_disk(9))
    counts, _ = _planted_counts(cells)
    w = h3_ring_weights(cells, include_self=include_self)
    ours = getis_ord_gi_star(counts, w)
    ref = _esda(counts, w, permutations=0)
    assert_allclose(ours.z, ref.Zs, rtol=0, atol=1e-9)
    assert_allclose(ours.p, 2 * ref.p_norm, rtol=1e-9, atol=1e-15)  # esda's is one-sided
    assert ours.parameters["self_weight_added"] is (not include_self)
    assert_array_equal(ours.n_neighbors, np.diff(h3_ring_weights(cells, include_self=False).indptr))


def test_z_equals_esda_on_contiguity_weights() -> None:
    squares = [box(x, y, x + 1, y + 1) for x in range(12) for y in range(9)]
    y = np.random.default_rng(4).gamma(2.0, 3.0, len(squares))
    w = polygon_contiguity_weights(squares, "queen")
    assert_allclose(getis_ord_gi_star(y, w).z, _esda(y, w, permutations=0).Zs, atol=1e-9)


def test_z_with_non_binary_weights_is_getis_ord_1995() -> None:
    rng = np.random.default_rng(2)
    y = rng.gamma(2.0, 1.0, 30)
    dense = (rng.random((30, 30)) < 0.2) * rng.uniform(0.5, 2.0, (30, 30))
    np.fill_diagonal(dense, 1.0)
    n, mean, sd = y.size, y.mean(), y.std()
    wi, s1 = dense.sum(axis=1), (dense**2).sum(axis=1)
    expected = (dense @ y - mean * wi) / (sd * np.sqrt((n * s1 - wi**2) / (n - 1)))
    assert_allclose(getis_ord_gi_star(y, sp.csr_array(dense)).z, expected, rtol=1e-12)
    with pytest.raises(HotspotError, match="binary"):
        getis_ord_gi_star(y, sp.csr_array(dense), permutations=9)


def test_planted_cluster_is_a_99_percent_hot_spot_and_quiet_area_is_not() -> None:
    cells = _disk(12)
    counts, hot = _planted_counts(cells)
    out = cell_hotspots(cells, counts)
    assert list(out.columns) == ["h3", "count", "gi_z", "gi_p", "gi_bin", "n_neighbors"]
    assert_array_equal(out["h3"], cells)
    assert out["h3"].dtype == np.int64 and out["gi_bin"].dtype == np.int8
    assert_array_equal(out["count"], counts)
    centre = h3.str_to_int(h3.cell_to_center_child(h3.cell_to_parent(CENTRE, 6), 8))
    assert out.loc[out["h3"] == centre, "gi_bin"].item() == 3
    assert (out.loc[hot, "gi_bin"] >= 2).all()
    # a quiet area: cells 4 or more rings from the planted centre
    planted = [h3.int_to_str(int(c)) for c in cells[hot]]
    far = [h3.grid_distance(h3.int_to_str(int(c)), planted[0]) >= 4 for c in cells]
    assert (out.loc[far, "gi_bin"] <= 0).all()
    assert (out.loc[far, "gi_bin"] == 0).mean() > 0.95
    assert out.attrs["parameters"]["fdr"] is True


def test_bins_are_symmetric_for_cold_spots() -> None:
    cells = _disk(12)
    counts, hot = _planted_counts(cells)
    hot_run = cell_hotspots(cells, counts)
    cold_run = cell_hotspots(cells, counts.max() - counts)  # the cluster becomes a hole
    assert_allclose(cold_run["gi_z"], -hot_run["gi_z"], atol=1e-12)
    assert_allclose(cold_run["gi_p"], hot_run["gi_p"], atol=1e-15)
    assert_array_equal(cold_run["gi_bin"], -hot_run["gi_bin"])
    assert (cold_run.loc[hot, "gi_bin"] <= -2).all()
    z = np.array([3.1, -3.1, 2.0, -2.0, 1.7, -1.7, 0.2])
    p = 2 * stats.norm.sf(np.abs(z))
    for fdr in (True, False):
        assert_array_equal(gi_bins(-z, p, fdr=fdr), -gi_bins(z, p, fdr=fdr))
    assert gi_bins(z, p, fdr=False).tolist() == [3, -3, 2, -2, 1, -1, 0]


def test_fdr_threshold_hand_example() -> None:
    # Benjamini & Hochberg by hand, m = 10. alpha = 0.05: bounds k·alpha/m = 0.005·k;
    # p(8) = 0.0344 <= 0.040 is the largest that passes (p(9) = 0.0459 > 0.045,
    # p(10) = 0.324 > 0.05), so the cut-off is 0.0344.
    p = [0.0001, 0.0004, 0.0019, 0.0095, 0.0201, 0.0278, 0.0298, 0.0344, 0.0459, 0.3240]
    assert fdr_threshold(p, 0.05) == 0.0344
    # alpha = 0.01: bounds 0.001·k; p(3) = 0.0019 <= 0.003, and every later p(k) > 0.001·k
    assert fdr_threshold(p, 0.01) == 0.0019
    assert fdr_threshold([0.5, np.nan, 0.04], 0.05) == 0.0
    assert fdr_threshold([np.nan], 0.05) == 0.0
    with pytest.raises(HotspotError):
        fdr_threshold(p, 1.5)
    # the same discoveries as scipy's BH-adjusted p-values
    rng = np.random.default_rng(5)
    many = np.concatenate([rng.uniform(0, 0.002, 40), rng.uniform(0, 1, 400)])
    for alpha in (0.1, 0.05, 0.01):
        adjusted = stats.false_discovery_control(many, method="bh")
        assert_array_equal(many <= fdr_threshold(many, alpha), adjusted <= alpha)


def test_fdr_bins_are_stricter_than_plain_bins() -> None:
    cells = _disk(12)
    counts, _ = _planted_counts(cells, seed=3)
    plain = cell_hotspots(cells, counts, fdr=False)["gi_bin"].abs()
    corrected = cell_hotspots(cells, counts, fdr=True)["gi_bin"].abs()
    assert (corrected <= plain).all() and (corrected < plain).any()


def test_permutations_are_seeded_and_reproducible() -> None:
    cells = _disk(8)
    counts, hot = _planted_counts(cells)
    a = cell_hotspots(cells, counts, permutations=199, seed=42)
    b = cell_hotspots(cells, counts, permutations=199, seed=42)
    c = cell_hotspots(cells, counts, permutations=199, seed=43)
    assert "gi_p_sim" in a.columns
    assert_array_equal(a["gi_p_sim"], b["gi_p_sim"])
    assert not np.array_equal(a["gi_p_sim"], c["gi_p_sim"])
    assert_allclose(a["gi_z"], cell_hotspots(cells, counts)["gi_z"])
    assert (a.loc[hot, "gi_p_sim"] <= 0.01).all()
    assert a["gi_p_sim"].min() >= 1 / 200 and a["gi_p_sim"].max() <= 1


def test_permutation_p_agrees_with_esda() -> None:
    cells = _disk(11)  # 397 cells
    lat, lng = np.array([h3.cell_to_latlng(h3.int_to_str(int(c))) for c in cells]).T
    bump = np.exp(-(((lat - lat.mean()) / 0.02) ** 2 + ((lng - lng.mean() - 0.03) / 0.02) ** 2))
    y = np.random.default_rng(3).gamma(2.0, 1.0 + 3.0 * bump)  # continuous: no ties
    w = h3_ring_weights(cells)
    ref = _esda(y, w, permutations=999, seed=11, n_jobs=1).p_sim
    ours = getis_ord_gi_star(y, w, permutations=999, seed=5).p_sim
    assert ours is not None
    assert ((ours <= 0.05) == (ref <= 0.05)).mean() > 0.95
    assert (ref <= 0.05).sum() >= 20  # the example does have significant cells
    # each p_sim is a Monte Carlo estimate of the same exact p: within sampling error
    se = np.sqrt(2 * ref * (1 - ref) / 999)
    assert (np.abs(ours - ref) <= 3 * se + 2 / 1000).mean() > 0.99
    # both share draws across cells, so their Monte Carlo errors are common to all cells
    assert abs(np.mean(ours - ref)) < 0.02


def test_shared_draws_give_the_exact_conditional_null() -> None:
    # path graph of 8 values; exact null of each cell by enumerating all draws
    y = np.array([4.0, 1.0, 7.0, 2.0, 9.0, 3.0, 5.0, 6.5])
    n = y.size
    w = sp.diags_array([np.ones(n - 1), np.ones(n), np.ones(n - 1)], offsets=[-1, 0, 1])
    ours = getis_ord_gi_star(y, sp.csr_array(w), permutations=20_000, seed=9).p_sim
    assert ours is not None
    for i in range(n):
        neighbours = [j for j in (i - 1, i + 1) if 0 <= j < n]
        observed = y[neighbours].sum()
        others = np.delete(y, i)
        sums = np.array([sum(c) for c in combinations(others, len(neighbours))])
        exact = min((sums >= observed).mean(), (sums <= observed).mean())
        assert abs(ours[i] - exact) < 4 * np.sqrt(exact * (1 - exact) / 20_000) + 1e-3


def test_ties_do_not_make_empty_neighbourhoods_significant() -> None:
    cells = _disk(6)
    counts = np.zeros(cells.size)
    counts[:3] = 5.0  # sparse counts: most neighbourhoods are all zeros
    out = cell_hotspots(cells, counts, permutations=999, seed=0)
    quiet = out["count"].eq(0) & (cells != cells[0])
    far = quiet & (out["gi_z"] < 0)
    assert far.sum() > 50
    # esda's directed p would be 1/1000 for them (ties counted in the upper tail only)
    assert (out.loc[far, "gi_p_sim"] > 0.5).all()
    assert (out.loc[far, "gi_bin"] == 0).all()


def test_islands_constant_values_and_missing_diagonal() -> None:
    two_far = np.array(
        [h3.str_to_int(CENTRE), h3.str_to_int(h3.latlng_to_cell(25.0, 110.0, 8))], dtype=np.int64
    )
    out = cell_hotspots(two_far, [3.0, 0.0], permutations=99, seed=1)
    assert out["n_neighbors"].tolist() == [0, 0]
    assert out["gi_p_sim"].tolist() == [1.0, 1.0] and out["gi_bin"].tolist() == [0, 0]
    cells = _disk(3)
    flat = getis_ord_gi_star(np.full(cells.size, 2.0), h3_ring_weights(cells))
    assert_array_equal(flat.z, 0.0)
    assert_array_equal(flat.p, 1.0)
    empty = getis_ord_gi_star(np.array([]), sp.csr_array((0, 0)), permutations=9)
    assert empty.z.size == 0 and empty.p_sim is None


@pytest.mark.parametrize(
    ("values", "weights", "kwargs", "message"),
    [
        ([1.0, np.nan], sp.eye_array(2), {}, "finite"),
        ([1.0, 2.0], sp.eye_array(3), {}, "match"),
        ([1.0, 2.0], np.eye(2), {}, "sparse"),
        ([1.0, 2.0], -sp.eye_array(2), {}, "non-negative"),
        ([1.0, 2.0], sp.eye_array(2), {"permutations": -1}, "permutations"),
        ([[1.0, 2.0]], sp.eye_array(2), {}, "1-D"),
    ],
)
def test_gi_star_rejects_bad_input(
    values: Any, weights: Any, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(HotspotError, match=message):
        getis_ord_gi_star(values, weights, **kwargs)


def test_polygon_hotspots_over_a_grid() -> None:
    squares = [box(x, y, x + 1, y + 1) for x in range(8) for y in range(8)]
    values = np.array([20.0 if x < 2 and y < 2 else 1.0 for x in range(8) for y in range(8)])
    out = polygon_hotspots(squares, values, rule="rook", permutations=99, seed=3)
    assert list(out.columns) == ["value", "gi_z", "gi_p", "gi_bin", "n_neighbors", "gi_p_sim"]
    w = polygon_contiguity_weights(squares, "rook")
    assert_allclose(out["gi_z"], getis_ord_gi_star(values, w).z)
    assert out["n_neighbors"].iloc[0] == 2 and out["n_neighbors"].iloc[9] == 4
    analytic = polygon_hotspots(squares, values, rule="rook")
    assert analytic["gi_bin"].iloc[0] == 3 and analytic["gi_bin"].iloc[-1] == 0
