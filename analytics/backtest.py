"""Backtest of the risk-weighted inspection draw against a uniform one.

Both draws take the same stratified quotas (:func:`analytics.draw.stratum_quota`)
with the same sampler (:func:`analytics.draw.sample_by_keys`); the risk-weighted
one uses the risk weights, the uniform one equal weights. Each simulated draw
uses the same exponential variates for both (common random numbers), so their
per-draw ratio measures the weights, not the luck of the draw: with equal
weights the two draws coincide and the lift is exactly 1.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from analytics.draw import (
    exponential_keys,
    sample_by_keys,
    sampling_weights,
    seeded_generator,
    strata_order,
    stratum_labels,
    stratum_quota,
)
from analytics.errors import DrawError

#: Draws simulated per block (bounds memory: block × enterprises doubles).
_BLOCK = 32


def _spread(values: NDArray[np.float64]) -> dict[str, float | None]:
    """Mean, standard deviation (ddof=1) and 5th/95th percentiles of the finite values
    (all None when there are none, so the result stays valid JSON)."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return dict.fromkeys(("mean", "std", "p05", "p95"))
    p05, p95 = np.quantile(finite, [0.05, 0.95])
    std = float(finite.std(ddof=1)) if finite.size > 1 else 0.0
    return {"mean": float(finite.mean()), "std": std, "p05": float(p05), "p95": float(p95)}


def _checked(
    weights: ArrayLike, violations: ArrayLike, n: int
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    w = np.asarray(weights, dtype=np.float64)
    v = np.asarray(violations, dtype=np.float64)
    if w.shape != (n,) or v.shape != (n,):
        raise DrawError(f"weights, strata and violations must be 1-D of one length ({n})")
    if not (np.isfinite(w).all() and (w >= 0).all() and np.isfinite(v).all() and (v >= 0).all()):
        raise DrawError("weights and violations must be finite and ≥ 0")
    if v.sum() <= 0:
        raise DrawError("no violations in the test period: the hit rate is undefined")
    return w, v


def backtest_draws(
    weights: ArrayLike,
    strata: ArrayLike,
    violations: ArrayLike,
    *,
    quotas: Mapping[str, float],
    n_draws: int = 200,
    seed: int = 0,
    min_weight: float = 0.05,
) -> dict[str, Any]:
    """Hit rates of many risk-weighted and uniform draws of the same sizes.

    Parameters
    ----------
    weights : (n,) array_like
        Risk weights (≥ 0) as of the end of the training period.
    strata : (n,) array_like
        Category of each enterprise (``key``/``special``/``general``; missing → ``general``).
    violations : (n,) array_like
        Violations each enterprise had in the test period.
    quotas : mapping
        Share of each stratum per draw; sizes are ``ceil(share × population)``.
    n_draws : int
        Simulated draws.
    seed : int
        Seed of the simulation (its ``"backtest"`` stream).
    min_weight : float
        Sampling-weight floor as in :func:`analytics.draw.draw_enterprises`.

    Returns
    -------
    dict
        ``risk_weighted_hit_rate`` and ``uniform_hit_rate`` (each ``mean``, ``std``,
        ``p05``, ``p95`` over draws; the hit rate is the share of all test-period
        violations at the drawn enterprises); ``lift`` (``ratio_of_means`` and the
        spread of the per-draw ratios, ``undefined`` counting draws whose uniform
        hit rate was 0); ``expected_uniform_hit_rate`` (analytic:
        Σ quota/population × stratum violations / all violations); ``n_draws``,
        ``seed``, ``sample_size`` and ``population`` per stratum, ``violations``.

    Examples
    --------
    >>> r = backtest_draws([1, 1, 9, 9], ["general"] * 4, [0, 0, 1, 1],
    ...                    quotas={"general": 0.5}, n_draws=50, seed=1)
    >>> r["uniform_hit_rate"]["mean"] < r["risk_weighted_hit_rate"]["mean"], r["sample_size"]
    (True, {'general': 2})
    """
    if n_draws < 1:
        raise DrawError(f"n_draws must be at least 1: {n_draws}")
    names = strata_order(quotas)
    labels = stratum_labels(strata, quotas)
    w, v = _checked(weights, violations, labels.size)
    members = [np.flatnonzero(labels == s) for s in names]
    sizes = [stratum_quota(quotas[s], rows.size) for s, rows in zip(names, members, strict=True)]
    risk_weights = sampling_weights(w, members, min_weight)
    equal = np.ones_like(w)
    rng = seeded_generator(seed, "backtest")
    risk, uniform = [], []
    for start in range(0, n_draws, _BLOCK):
        e = exponential_keys(rng, min(_BLOCK, n_draws - start), labels.size)
        risk.append(v[sample_by_keys(e, risk_weights, members, sizes)].sum(axis=1))
        uniform.append(v[sample_by_keys(e, equal, members, sizes)].sum(axis=1))
    total = v.sum()
    risk_rate, uniform_rate = np.concatenate(risk) / total, np.concatenate(uniform) / total
    ratio = np.divide(
        risk_rate, uniform_rate, out=np.full_like(risk_rate, np.nan), where=uniform_rate > 0
    )
    expected = sum(
        k / rows.size * v[rows].sum() for k, rows in zip(sizes, members, strict=True) if rows.size
    )
    return {
        "risk_weighted_hit_rate": _spread(risk_rate),
        "uniform_hit_rate": _spread(uniform_rate),
        "lift": {
            "ratio_of_means": float(risk_rate.mean() / uniform_rate.mean())
            if uniform_rate.mean() > 0
            else None,
            **_spread(ratio),
            "undefined": int(np.isnan(ratio).sum()),
        },
        "expected_uniform_hit_rate": float(expected / total),
        "n_draws": int(n_draws),
        "seed": seed,
        "sample_size": dict(zip(names, sizes, strict=True)),
        "population": {s: int(rows.size) for s, rows in zip(names, members, strict=True)},
        "violations": float(total),
    }
