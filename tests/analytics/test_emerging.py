"""Emerging hot spots: planted categories, Mann–Kendall by hand, the cube and its weights."""

from __future__ import annotations

from typing import Any

import h3
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from scipy import stats

from analytics.emerging import (
    CATEGORY_LABELS,
    EmergingHotspotError,
    emerging_hotspots,
    mann_kendall,
    space_time_cube,
    space_time_weights,
)
from analytics.weights import h3_ring_weights

CENTRE = h3.latlng_to_cell(22.8170, 108.3665, 8)
CELLS = np.array([h3.str_to_int(c) for c in h3.grid_disk(CENTRE, 8)], dtype=np.int64)  # 217
PATCH = np.isin(CELLS, [h3.str_to_int(c) for c in h3.grid_disk(CENTRE, 1)])  # CELLS[0] + ring
STEPS = 20
T = np.arange(STEPS)


def _planted(series: np.ndarray, background: float) -> np.ndarray:
    cube = np.full((CELLS.size, STEPS), background)
    cube[PATCH] = series
    return cube


HOT = {  # background 1, the patch's value per step
    "new_hot": np.where(T == STEPS - 1, 10.0, 1.0),
    "consecutive_hot": np.where(T >= STEPS - 4, 10.0, 1.0),
    "intensifying_hot": 4.0 + T,
    "persistent_hot": np.full(STEPS, 10.0),
    "diminishing_hot": 24.0 - T,
    "historical_hot": np.where(T < STEPS - 2, 10.0, 1.0),
    "sporadic_hot": np.where(np.isin(T, [3, 8, 14, 19]), 10.0, 1.0),
    "oscillating_hot": np.select([np.isin(T, [2, 3, 9, 10]), T == STEPS - 1], [0.0, 10.0], 1.0),
}
COLD = {  # background 10: the mirror image
    "new_cold": np.where(T == STEPS - 1, 0.0, 10.0),
    "consecutive_cold": np.where(T >= STEPS - 4, 0.0, 10.0),
    "intensifying_cold": np.linspace(5.0, 0.0, STEPS),
    "persistent_cold": np.zeros(STEPS),
    "diminishing_cold": np.linspace(0.0, 5.0, STEPS),
    "historical_cold": np.where(T < STEPS - 2, 0.0, 10.0),
    "sporadic_cold": np.where(np.isin(T, [3, 8, 14, 19]), 0.0, 10.0),
    "oscillating_cold": np.select([np.isin(T, [2, 3, 9, 10]), T == STEPS - 1], [30.0, 0.0], 10.0),
}


@pytest.mark.parametrize("category", list(HOT) + list(COLD))
def test_planted_category_is_recovered(category: str) -> None:
    series, background = (HOT[category], 1.0) if category in HOT else (COLD[category], 10.0)
    out = emerging_hotspots(CELLS, _planted(series, background))
    centre = out.iloc[0]
    assert centre["category"] == category
    assert centre["category_label"] == CATEGORY_LABELS[category]
    far = out.iloc[-1]  # 8 rings away: only background around it
    assert far["category"] == "no_pattern" and far["hot_steps"] == far["cold_steps"] == 0


def test_counts_trend_and_bins_of_planted_patterns() -> None:
    out = emerging_hotspots(CELLS, _planted(HOT["intensifying_hot"], 1.0)).iloc[0]
    assert out["hot_steps"] == 19 and out["cold_steps"] == 0  # step 0 not yet significant
    assert out["trend_z"] > 3 and out["trend_p"] < 0.01 and out["last_bin"] == 3
    out = emerging_hotspots(CELLS, _planted(HOT["historical_hot"], 1.0)).iloc[0]
    assert out["hot_steps"] == 19 and out["last_bin"] == 0  # final step: nothing left
    out = emerging_hotspots(CELLS, _planted(COLD["diminishing_cold"], 10.0)).iloc[0]
    assert out["cold_steps"] == 20 and out["trend_z"] > 3 and out["last_bin"] == -3
    out = emerging_hotspots(CELLS, _planted(HOT["oscillating_hot"], 1.0)).iloc[0]
    assert (out["hot_steps"], out["cold_steps"]) == (1, 6)  # each cold step lasts 2 with τ = 1


def test_frame_columns_order_and_parameters() -> None:
    order = np.random.default_rng(1).permutation(CELLS.size)
    cube = _planted(HOT["new_hot"], 1.0)
    out = emerging_hotspots(CELLS[order], cube[order], k=1, neighborhood_time_steps=1)
    assert list(out.columns) == [
        "h3",
        "category",
        "category_label",
        "trend_z",
        "trend_p",
        "hot_steps",
        "cold_steps",
        "last_z",
        "last_bin",
    ]
    assert_array_equal(out["h3"], CELLS[order])
    assert out.loc[order == 0, "category"].item() == "new_hot"
    assert out.attrs["parameters"]["n_steps"] == STEPS
    assert 0 < out.attrs["parameters"]["significance_cutoff"] <= 0.05


def test_labels_cover_every_category() -> None:
    assert len(CATEGORY_LABELS) == 17
    assert CATEGORY_LABELS["new_hot"] == "新增热点"
    assert CATEGORY_LABELS["intensifying_cold"] == "加强冷点"
    assert CATEGORY_LABELS["diminishing_hot"] == "减弱热点"
    assert CATEGORY_LABELS["no_pattern"] == "无显著模式"
    assert len(set(CATEGORY_LABELS.values())) == 17


def test_permutations_and_plain_alpha() -> None:
    cube = _planted(HOT["new_hot"], 1.0)
    a = emerging_hotspots(CELLS, cube, permutations=199, seed=4, fdr=False)
    b = emerging_hotspots(CELLS, cube, permutations=199, seed=4, fdr=False)
    pd.testing.assert_frame_equal(a, b)
    assert a.iloc[0]["category"] == "new_hot"
    assert a.attrs["parameters"]["permutations"] == 199


def test_spatial_only_neighbourhood() -> None:
    # with no previous steps in the neighbourhood, historical needs only the final step quiet
    series = np.where(T < STEPS - 1, 10.0, 1.0)
    out = emerging_hotspots(CELLS, _planted(series, 1.0), neighborhood_time_steps=0).iloc[0]
    assert (out["category"], out["hot_steps"]) == ("historical_hot", 19)


def test_mann_kendall_by_hand() -> None:
    # x = 1 3 2 5 5: pairs (i<j) signs: +,+,+,+ | -,+,+ | +,+ | 0 → S = 7
    # ties: one pair of 5s → var = (5·4·15 − 2·1·9) / 18 = 282 / 18
    r = mann_kendall([1.0, 3.0, 2.0, 5.0, 5.0])
    assert float(r.s) == 7.0
    assert_allclose(float(r.var_s), 282 / 18)
    assert_allclose(float(r.z), 6 / np.sqrt(282 / 18))
    assert_allclose(float(r.p), 2 * stats.norm.sf(6 / np.sqrt(282 / 18)))
    falling = mann_kendall([4.0, 3.0, 2.0, 1.0])  # S = −6, var = 4·3·13/18
    assert float(falling.s) == -6
    assert_allclose(float(falling.z), -5 / np.sqrt(156 / 18))
    flat = mann_kendall([2.0, 2.0, 2.0])
    assert (float(flat.s), float(flat.var_s), float(flat.z), float(flat.p)) == (0, 0, 0, 1)
    with pytest.raises(EmergingHotspotError):
        mann_kendall([1.0])


def test_mann_kendall_matches_kendalls_tau() -> None:
    rng = np.random.default_rng(0)
    series = rng.integers(0, 6, (50, 12)).astype(float)  # many ties
    r = mann_kendall(series)
    n = series.shape[1]
    n0 = n * (n - 1) / 2
    for row, s, var_s in zip(series, r.s, r.var_s, strict=True):
        tau = stats.kendalltau(np.arange(n), row)
        _, tie_counts = np.unique(row, return_counts=True)
        n2 = (tie_counts * (tie_counts - 1) / 2).sum()
        assert_allclose(s, tau.statistic * np.sqrt(n0 * (n0 - n2)), atol=1e-9)
        # scipy's asymptotic p has no continuity correction: z = S / sqrt(var)
        if var_s > 0:
            assert_allclose(tau.pvalue, 2 * stats.norm.sf(abs(s) / np.sqrt(var_s)), rtol=1e-9)
    assert r.z.shape == (50,)


def test_space_time_cube_counts_and_sums() -> None:
    cells = [30, 10, 30, 30, 20]
    steps = [0, 2, 0, 1, 2]
    ids, cube = space_time_cube(cells, steps, 3)
    assert ids.tolist() == [10, 20, 30] and cube.dtype == np.int64
    assert cube.tolist() == [[0, 0, 1], [0, 0, 1], [2, 1, 0]]
    ids, sums = space_time_cube(cells, steps, 3, weights=[1.5, 2.0, 0.5, 1.0, 4.0])
    assert sums.tolist() == [[0, 0, 2.0], [0, 0, 4.0], [2.0, 1.0, 0]]
    ids, cube = space_time_cube(cells, steps, 4, all_cells=[40, 30, 20, 10])
    assert ids.tolist() == [40, 30, 20, 10]
    assert cube.tolist() == [[0, 0, 0, 0], [2, 1, 0, 0], [0, 0, 1, 0], [0, 0, 1, 0]]
    assert cube.sum() == len(cells)
    ids, cube = space_time_cube([], [], 2, all_cells=[5])
    assert cube.tolist() == [[0, 0]]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"step_index": [0, 3], "n_steps": 3}, "outside"),
        ({"step_index": [0, -1], "n_steps": 3}, "non-negative"),
        ({"step_index": [0], "n_steps": 3}, "step indices"),
        ({"step_index": [0, 1], "n_steps": 0}, "positive"),
        ({"step_index": [0, 1], "n_steps": 2, "all_cells": [1]}, "outside all_cells"),
        ({"step_index": [0, 1], "n_steps": 2, "weights": [1.0]}, "weights"),
    ],
)
def test_space_time_cube_rejects_bad_input(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(EmergingHotspotError, match=message):
        space_time_cube([1, 2], **kwargs)


@pytest.mark.parametrize("tau", [0, 1, 2])
def test_space_time_weights_against_brute_force(tau: int) -> None:
    cells = CELLS[:19]  # the centre and two rings
    spatial = h3_ring_weights(cells)
    n, steps = cells.size, 4
    w = space_time_weights(spatial, steps, tau)
    dense = spatial.toarray()
    expected = np.zeros((n * steps, n * steps))
    for t in range(steps):
        for s in range(steps):
            if 0 <= t - s <= tau:
                expected[t * n : (t + 1) * n, s * n : (s + 1) * n] = dense
    assert_array_equal(w.toarray(), expected)
    assert isinstance(w, sp.csr_array) and w.has_sorted_indices


def test_emerging_rejects_bad_cube() -> None:
    with pytest.raises(EmergingHotspotError, match="n_steps"):
        emerging_hotspots(CELLS, np.ones((CELLS.size, 1)))
    with pytest.raises(EmergingHotspotError, match="n_cells"):
        emerging_hotspots(CELLS, np.ones((CELLS.size - 1, 5)))
    with pytest.raises(EmergingHotspotError, match="neighborhood_time_steps"):
        emerging_hotspots(CELLS, np.ones((CELLS.size, 5)), neighborhood_time_steps=-1)
