"""Explainable risk of enterprises and H3 cells: a weighted sum of ranked components.

Every component has a raw value per unit (``v_<component>``: an enterprise or a
cell). Its *normalised* value is the share of the units with a positive raw
value that this unit meets or exceeds (the empirical distribution function
among those units): 0 for a unit without any, 1 for the largest. Ranks are
robust to the long tails of counts and penalties, and read plainly ("among the
top 10 % by penalties"); a log scale would give the same ranks.

The score is ``Σ_k w_k · norm_k`` over the components used, with weights
renormalised to sum to 1, so it lies in [0, 1] and the contributions
``c_k = w_k · norm_k`` add up to it. A component without any data (no
exceedances table, no case with a problem type, ...) drops out and the other
weights are renormalised; ``attrs["parameters"]`` records what was used.

Components (records in the window ``(as_of − window_years, as_of]`` unless said):

``case_density``   cases in the cell (an enterprise: its cell's)
``hotspot``        positive Getis-Ord Gi* z of cell case counts, ``k = 1`` rings
``trend``          positive Mann–Kendall z of the cell's yearly case counts
``repeat_offending`` cases of an enterprise with 2 or more (else 0); a cell: the sum
``severity``       sum of penalties (yuan)
``problems_found`` inspections in the window that found a problem
``industry_rate``  cases per enterprise of the other register enterprises of the
                   enterprise's industry (``industry_code``, the same code) in the
                   window: the peers' record, not the enterprise's own; 0 without a
                   code; a cell: the mean of its enterprises
``problem_mix``    mean heaviness of the problem types of the unit's cases, a type's
                   heaviness being the mean penalty of all its cases in the window
``exceedances``    online-monitoring exceedances
``complaints``     complaints
``inspection_gap`` years since the last inspection (any date up to ``as_of``)
                   divided by ``1 +`` inspections in the window; never inspected
                   counts as not inspected since the inspection records begin, the
                   longest gap possible; a cell: the mean of its enterprises

The default weights favour what predicts next year's cases per enterprise
(``geo-service evaluate-risk``, docs/benchmarks.md): the enterprise's own record
(repeat offending, penalties, problems found), its industry's and its
neighbourhood's. The inspection gap, which points away from the enterprises
inspected (and so found) most, keeps a small weight as a coverage policy.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from analytics._risk_components import (
    RiskData,
    all_cells,
    cell_signals,
    enterprise_raw,
    penalties,
    prepare,
    problem_heaviness,
    problems_found,
    sum_at,
    unit_values,
)
from analytics.errors import RiskError
from analytics.risk_defaults import COMPONENTS, DEFAULT_RISK_WEIGHTS, DEFAULT_TIERS

#: Components named in ``reasons`` at most.
MAX_REASONS = 3


_CELL_COMPONENTS = ("case_density", "hotspot", "trend")


def _available(data: RiskData, weights: Mapping[str, float]) -> dict[str, float]:
    """Components with data and a positive weight, weights renormalised to sum to 1."""
    unknown = sorted(set(weights) - set(COMPONENTS))
    if unknown:
        raise RiskError(f"unknown risk components {unknown}; known: {list(COMPONENTS)}")
    bad = {k: v for k, v in weights.items() if not (np.isfinite(v) and v >= 0)}
    if bad:
        raise RiskError(f"weights must be finite and ≥ 0, got {bad}")
    cases = data.cases
    window_inspections = data.inspections_in_window()
    has = {
        "case_density": cases is not None,
        "hotspot": cases is not None,
        "trend": cases is not None and data.window_years >= 2,
        "repeat_offending": cases is not None and bool((cases.ent >= 0).any()),
        "severity": cases is not None and float(penalties(cases).sum()) > 0,
        "problem_mix": cases is not None and bool(np.nan_to_num(problem_heaviness(cases)).any()),
        "exceedances": data.exceedances is not None,
        "complaints": data.complaints is not None,
        "inspection_gap": data.inspections is not None,
        "problems_found": window_inspections is not None
        and bool(problems_found(window_inspections).any()),
        "industry_rate": cases is not None
        and bool(data.ent["industry"].notna().to_numpy()[cases.ent[cases.ent >= 0]].any()),
    }
    used = {k: float(weights.get(k, 0.0)) for k in COMPONENTS if has[k] and weights.get(k, 0) > 0}
    total = sum(used.values())
    if total <= 0:
        raise RiskError("no risk component has both data and a positive weight")
    return {k: v / total for k, v in used.items()}


def _normalise(values: NDArray[np.float64]) -> NDArray[np.float64]:
    """Share of the positive values that each value meets or exceeds; 0 for values ≤ 0.

    >>> _normalise(np.array([0.0, 5.0, 1.0, 5.0, 2.0])).tolist()
    [0.0, 1.0, 0.25, 1.0, 0.5]
    """
    out = np.zeros(values.size)
    positive = values > 0
    if positive.any():
        ranked = np.sort(values[positive])
        out[positive] = np.searchsorted(ranked, values[positive], side="right") / ranked.size
    return out


def _tier_cuts(score: NDArray[np.float64], tiers: tuple[float, float]) -> tuple[float, float]:
    high, medium = tiers
    if not 0 < medium <= high < 1:
        raise RiskError(f"tiers must be quantiles with 0 < medium ≤ high < 1, got {tiers}")
    if score.size == 0:
        return 1.0, 1.0
    return float(np.quantile(score, high)), float(np.quantile(score, medium))


def _scored(
    raw: Mapping[str, NDArray[np.float64]],
    used: Mapping[str, float],
    tiers: tuple[float, float],
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """``score``, ``tier``, ``v_*``, ``c_*`` and ``reasons`` of the units; the tier cut-offs."""
    names = list(used)
    contributions = np.column_stack(
        [used[k] * _normalise(np.asarray(raw[k], np.float64)) for k in names]
    )
    score = contributions.sum(axis=1)
    cut_high, cut_medium = _tier_cuts(score, tiers)
    tier = np.where(score >= cut_medium, "medium", "low").astype(object)
    tier[score >= cut_high] = "high"
    tier[score <= 0] = "low"
    order = np.argsort(-contributions, axis=1, kind="stable")[:, :MAX_REASONS]
    top = np.take_along_axis(contributions, order, axis=1) > 0
    label = np.array(names, dtype=object)
    reasons = [label[o[t]].tolist() for o, t in zip(order, top, strict=True)]
    frame = pd.DataFrame({"score": score, "tier": tier})
    for k in names:
        frame[f"v_{k}"] = np.asarray(raw[k], np.float64)
    for j, k in enumerate(names):
        frame[f"c_{k}"] = contributions[:, j]
    frame["reasons"] = reasons
    cuts = {
        "high": {"quantile": float(tiers[0]), "min_score": cut_high},
        "medium": {"quantile": float(tiers[1]), "min_score": cut_medium},
    }
    return frame, cuts


def _expected_findings(
    data: RiskData, tier: NDArray[np.object_]
) -> tuple[NDArray[np.float64], dict[str, Any]]:
    """Violation rate per year, shrunk toward the tier's mean (Poisson–gamma credibility)."""
    n, years = len(data.ent), float(data.window_years)
    found = sum_at(data.cases.ent, n) if data.cases is not None else np.zeros(n)
    inspections = data.inspections_in_window()
    if inspections is not None:
        problem = inspections.rows["problem_found"].eq(True).to_numpy(dtype=bool)
        found += sum_at(np.where(problem, inspections.ent, -1), n)
    rate = found / years
    expected = np.zeros(n)
    summary: dict[str, Any] = {}
    for name in ("high", "medium", "low"):
        members = tier == name
        if not members.any():
            continue
        mean = float(rate[members].mean())
        between = max(float(rate[members].var()) - mean / years, 0.0)
        credibility = between / (between + mean / years) if mean > 0 else 0.0
        expected[members] = credibility * rate[members] + (1.0 - credibility) * mean
        summary[name] = {"mean_rate": mean, "credibility": credibility}
    return expected, summary


@dataclass(frozen=True)
class _Analysis:
    data: RiskData
    used: dict[str, float]
    cells: NDArray[np.int64]
    signals: dict[str, NDArray[np.float64]]
    parameters: dict[str, Any]


def _analyse(
    enterprises: pd.DataFrame,
    tables: Mapping[str, pd.DataFrame | None],
    as_of: dt.date,
    resolution: int,
    window_years: int,
    weights: Mapping[str, float],
    area_cells: ArrayLike | None,
) -> _Analysis:
    data = prepare(enterprises, tables, as_of, resolution, window_years)
    used = _available(data, weights)
    cells = all_cells(data)
    parameters = {
        "as_of": pd.Timestamp(as_of).date().isoformat(),
        "window": {"start": data.start.date().isoformat(), "end": data.end.date().isoformat()},
        "window_years": int(window_years),
        "resolution": int(resolution),
        "weights": used,
        "components": list(used),
        "components_dropped": [k for k in COMPONENTS if k not in used],
        "hotspot": {"statistic": "Getis-Ord Gi*", "k": 1, "area_cells": area_cells is not None},
        "normalisation": "share of the units with a positive value met or exceeded",
    }
    signals = cell_signals(data, cells, area_cells)
    return _Analysis(data, used, cells, signals, parameters)


def _enterprise_frame(analysis: _Analysis, tiers: tuple[float, float]) -> pd.DataFrame:
    data = analysis.data
    at = pd.Index(analysis.cells).get_indexer(pd.Index(data.ent["h3"]))
    raw = enterprise_raw(data)
    for name in _CELL_COMPONENTS:
        raw[name] = np.where(at >= 0, analysis.signals[name][np.maximum(at, 0)], 0.0)
    scored, cuts = _scored(raw, analysis.used, tiers)
    expected, shrinkage = _expected_findings(data, scored["tier"].to_numpy())
    frame = pd.concat([data.ent[["credit_code", "h3", "category"]], scored], axis=1)
    frame["expected_findings"] = expected
    frame.attrs["parameters"] = {
        **analysis.parameters,
        "unit": "enterprise",
        "tiers": cuts,
        "expected_findings": {"per": "year", "by_tier": shrinkage},
    }
    return frame


def enterprise_risk(
    enterprises: pd.DataFrame,
    cases: pd.DataFrame | None,
    inspections: pd.DataFrame | None,
    exceedances: pd.DataFrame | None = None,
    complaints: pd.DataFrame | None = None,
    *,
    as_of: dt.date,
    resolution: int = 7,
    window_years: int = 3,
    weights: Mapping[str, float] = DEFAULT_RISK_WEIGHTS,
    tiers: tuple[float, float] = DEFAULT_TIERS,
    area_cells: ArrayLike | None = None,
) -> pd.DataFrame:
    """Risk score, tier, components, reasons and expected findings of every enterprise.

    See the module docstring for the components and their normalisation.

    ``expected_findings`` is the expected number of violations found per year:
    the enterprise's rate in the window, ``r = (cases + inspections that found
    a problem) / window_years``, shrunk toward the mean rate ``m`` of its risk
    tier, empirical-Bayes style (Poisson counts with gamma-distributed rates,
    moments estimated per tier)::

        expected = Z · r + (1 − Z) · m,   Z = b / (b + m / window_years)

    with ``b = max(var(r) − m / window_years, 0)`` the variance of the rates
    between the tier's enterprises beyond Poisson noise. An enterprise with
    no record gets a share of its tier's mean; a tier of alike enterprises
    (``b = 0``) gets its mean. A case found by an inspection counts twice.

    Parameters
    ----------
    enterprises : pandas.DataFrame
        ``credit_code`` (unique), ``lon``, ``lat`` (WGS84) and optionally
        ``category`` (``key``/``special``/``general``; missing → ``general``)
        and ``industry_code`` (GB/T 4754; without it ``industry_rate`` drops out).
    cases : pandas.DataFrame or None
        ``credit_code`` (may be null), ``lon``, ``lat``, ``decision_date``,
        ``penalty_amount`` (NaN: unknown), optionally ``problem_type`` (int,
        −1 or NaN: none).
    inspections : pandas.DataFrame or None
        ``credit_code``, ``lon``, ``lat``, ``inspection_date``, ``problem_found``.
    exceedances, complaints : pandas.DataFrame, optional
        ``credit_code`` (nullable), ``lon``, ``lat``, ``date``.
        Records without coordinates are placed at their enterprise.
    as_of : datetime.date
        Only records dated up to this day count; the window is the
        ``window_years`` years ending with it.
    resolution : int, default 7
        H3 resolution of the cells.
    window_years : int, default 3
    weights : mapping, default DEFAULT_RISK_WEIGHTS
        Component → weight ≥ 0; components left out weigh 0.
    tiers : (float, float), default (0.9, 0.7)
        Score quantiles from which a unit is ``high`` and ``medium``; a score of
        0 is always ``low``.
    area_cells : array_like of int64, optional
        Every cell of the analysed area (same resolution), so that the Gi*
        hot spots count the cells without cases.

    Returns
    -------
    pandas.DataFrame
        In the order of ``enterprises``: ``credit_code``, ``h3`` (int64, 0 when
        the enterprise has no coordinates), ``category``, ``score``, ``tier``,
        ``v_<component>`` and ``c_<component>`` per component used,
        ``reasons`` (up to 3 components with a positive contribution, largest
        first) and ``expected_findings``. ``attrs["parameters"]`` (JSON-ready)
        records the weights and components used, the window, the tier
        cut-offs and the shrinkage per tier.

    Raises
    ------
    RiskError
        Missing columns, duplicate credit codes, unknown components, negative
        weights, bad tiers or window, or no component left to score.

    Examples
    --------
    >>> ents = pd.DataFrame({"credit_code": ["A", "B"], "lon": [108.3, 108.4],
    ...                      "lat": [22.8, 22.8], "category": ["key", None]})
    >>> cases = pd.DataFrame({"credit_code": ["A", "A"], "lon": [108.3, 108.3],
    ...     "lat": [22.8, 22.8], "decision_date": pd.to_datetime(["2024-03-01", "2024-09-01"]),
    ...     "penalty_amount": [50_000.0, 20_000.0]})
    >>> inspections = pd.DataFrame({"credit_code": ["B"], "lon": [108.4], "lat": [22.8],
    ...     "inspection_date": pd.to_datetime(["2024-05-01"]), "problem_found": [False]})
    >>> out = enterprise_risk(ents, cases, inspections, as_of=dt.date(2024, 12, 31))
    >>> out[["credit_code", "category", "tier"]].values.tolist()
    [['A', 'key', 'high'], ['B', 'general', 'low']]
    >>> out.loc[0, "reasons"], bool(np.allclose(out.filter(like="c_").sum(axis=1), out["score"]))
    (['repeat_offending', 'severity', 'case_density'], True)
    """
    tables = {
        "cases": cases,
        "inspections": inspections,
        "exceedances": exceedances,
        "complaints": complaints,
    }
    analysis = _analyse(enterprises, tables, as_of, resolution, window_years, weights, area_cells)
    return _enterprise_frame(analysis, tiers)


def cell_risk(
    enterprises: pd.DataFrame,
    cases: pd.DataFrame | None,
    inspections: pd.DataFrame | None,
    exceedances: pd.DataFrame | None = None,
    complaints: pd.DataFrame | None = None,
    *,
    as_of: dt.date,
    resolution: int = 7,
    window_years: int = 3,
    weights: Mapping[str, float] = DEFAULT_RISK_WEIGHTS,
    tiers: tuple[float, float] = DEFAULT_TIERS,
    area_cells: ArrayLike | None = None,
) -> pd.DataFrame:
    """Risk of every H3 cell with enterprises or records in the window.

    Same inputs, components and normalisation as :func:`enterprise_risk`,
    ranked among cells. A cell's record-based values count *all* records
    located in it, including those of no known enterprise;
    ``repeat_offending`` sums its enterprises' values, ``inspection_gap`` and
    ``industry_rate`` average them (0 without enterprises). ``expected_findings`` is the sum of
    its enterprises' (see :func:`enterprise_risk`).

    Returns
    -------
    pandas.DataFrame
        Sorted by ``h3``: ``h3`` (int64), ``score``, ``tier``, ``v_*``,
        ``c_*``, ``reasons``, ``enterprises`` (count) and ``expected_findings``.
        ``attrs["parameters"]`` as :func:`enterprise_risk`'s, with the cells'
        tier cut-offs.

    Examples
    --------
    >>> ents = pd.DataFrame({"credit_code": ["A", "B"], "lon": [108.3, 108.4], "lat": [22.8, 22.8]})
    >>> cases = pd.DataFrame({"credit_code": [None], "lon": [108.3], "lat": [22.8],
    ...     "decision_date": pd.to_datetime(["2024-03-01"]), "penalty_amount": [float("nan")]})
    >>> out = cell_risk(ents, cases, None, as_of=dt.date(2024, 12, 31))
    >>> out.sort_values("score")[["enterprises", "v_case_density", "tier"]].values.tolist()
    [[1, 0.0, 'low'], [1, 1.0, 'high']]
    """
    tables = {
        "cases": cases,
        "inspections": inspections,
        "exceedances": exceedances,
        "complaints": complaints,
    }
    analysis = _analyse(enterprises, tables, as_of, resolution, window_years, weights, area_cells)
    ent = _enterprise_frame(analysis, tiers)
    data, cells = analysis.data, analysis.cells
    n = cells.size
    index = pd.Index(cells)
    located = {
        "cases": data.cases,
        "exceedances": data.exceedances,
        "complaints": data.complaints,
        "inspections": data.inspections_in_window(),
    }
    tables_pos = {
        name: index.get_indexer(pd.Index(records.cell)).astype(np.int64)
        for name, records in located.items()
        if records is not None
    }
    raw: dict[str, Any] = {**analysis.signals, **unit_values(data, tables_pos, n)}
    at = index.get_indexer(pd.Index(data.ent["h3"])).astype(np.int64)
    members = sum_at(at, n)
    ent_raw = enterprise_raw(data)
    raw["repeat_offending"] = sum_at(at, n, ent_raw["repeat_offending"])
    for name in ("inspection_gap", "industry_rate"):
        total = sum_at(at, n, ent_raw[name])
        raw[name] = np.divide(total, members, out=np.zeros(n), where=members > 0)
    scored, cuts = _scored(raw, analysis.used, tiers)
    frame = pd.concat([pd.DataFrame({"h3": cells}), scored], axis=1)
    frame["enterprises"] = members.astype(np.int64)
    frame["expected_findings"] = sum_at(at, n, ent["expected_findings"])
    frame.attrs["parameters"] = {**ent.attrs["parameters"], "unit": "cell", "tiers": cuts}
    return frame
