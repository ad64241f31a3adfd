"""Backtest of the risk-weighted draw: lift where risk predicts violations, none where it does not."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from analytics.backtest import backtest_draws
from analytics.draw import DEFAULT_QUOTAS
from analytics.errors import DrawError

N = 4000


def _register(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    weights = rng.lognormal(0.0, 1.0, N)
    strata = rng.choice(
        np.array(["key", "special", "general", None], dtype=object), N, p=[0.1, 0.2, 0.6, 0.1]
    )
    return weights, strata


def test_lift_is_clearly_above_one_when_violations_follow_the_weights() -> None:
    weights, strata = _register(1)
    top = weights >= np.quantile(weights, 0.9)
    violations = np.where(top, np.random.default_rng(2).poisson(3.0, N), 0)
    result = backtest_draws(weights, strata, violations, quotas=DEFAULT_QUOTAS, n_draws=200, seed=3)
    assert result["lift"]["ratio_of_means"] > 2.0
    assert result["lift"]["p05"] > 1.5
    assert result["lift"]["undefined"] == 0
    assert result["risk_weighted_hit_rate"]["p05"] > result["uniform_hit_rate"]["p95"]


def test_lift_is_about_one_when_weights_are_independent_of_violations() -> None:
    weights, strata = _register(4)
    violations = np.random.default_rng(5).poisson(0.3, N)
    result = backtest_draws(weights, strata, violations, quotas=DEFAULT_QUOTAS, n_draws=300, seed=6)
    lift = result["lift"]
    assert lift["p05"] < 1.0 < lift["p95"]
    # this register's weights and violations are independent only in expectation: the
    # lift sits within the spread of the draws, not within their standard error
    assert abs(lift["mean"] - 1.0) < lift["std"]
    assert abs(lift["ratio_of_means"] - 1.0) < 0.08


def test_uniform_hit_rate_matches_the_sample_share() -> None:
    weights, strata = _register(7)
    violations = np.random.default_rng(8).poisson(np.where(strata == "key", 2.0, 0.2))
    result = backtest_draws(weights, strata, violations, quotas=DEFAULT_QUOTAS, n_draws=400, seed=9)
    labels = np.where(strata == None, "general", strata)  # noqa: E711 - elementwise
    expected = 0.0
    for stratum, share in DEFAULT_QUOTAS.items():
        rows = labels == stratum
        k = int(np.ceil(round(share * rows.sum(), 9)))
        assert result["sample_size"][stratum] == k
        assert result["population"][stratum] == rows.sum()
        expected += k / rows.sum() * violations[rows].sum() / violations.sum()
    assert_allclose(result["expected_uniform_hit_rate"], expected)
    uniform = result["uniform_hit_rate"]
    assert abs(uniform["mean"] - expected) < 3 * uniform["std"] / np.sqrt(400)
    assert result["n_draws"] == 400 and result["violations"] == violations.sum()


def test_equal_weights_give_the_uniform_draw_exactly() -> None:
    _, strata = _register(10)
    violations = np.random.default_rng(11).poisson(0.5, N)
    result = backtest_draws(
        np.ones(N), strata, violations, quotas=DEFAULT_QUOTAS, n_draws=50, seed=12
    )
    assert result["risk_weighted_hit_rate"] == result["uniform_hit_rate"]
    assert result["lift"]["mean"] == result["lift"]["p05"] == result["lift"]["p95"] == 1.0


def test_same_seed_same_result_other_seed_other_draws() -> None:
    weights, strata = _register(13)
    violations = np.random.default_rng(14).poisson(0.2 * weights)
    kwargs = {"quotas": DEFAULT_QUOTAS, "n_draws": 40}
    one = backtest_draws(weights, strata, violations, seed=1, **kwargs)  # type: ignore[arg-type]
    assert one == backtest_draws(weights, strata, violations, seed=1, **kwargs)  # type: ignore[arg-type]
    assert one != backtest_draws(weights, strata, violations, seed=2, **kwargs)  # type: ignore[arg-type]


def test_a_period_without_violations_is_refused() -> None:
    with pytest.raises(DrawError, match="no violations"):
        backtest_draws([1.0, 2.0], ["key", "key"], [0, 0], quotas=DEFAULT_QUOTAS)
    with pytest.raises(DrawError, match="one length"):
        backtest_draws([1.0, 2.0], ["key"], [0, 1], quotas=DEFAULT_QUOTAS)
