"""The risk-weighted, stratified "double random" inspection draw (双随机).

Enterprises are drawn at random within each stratum (``key``, ``special``,
``general``) with probability proportional to their risk weight; inspectors are
then drawn at random, in teams, for each drawn enterprise. One seed drives both.

Seeds and their commitment are in :mod:`analytics.draw_seeds`, inspector teams in
:mod:`analytics.inspector_teams`, the record in :mod:`analytics.draw_records`; their
public names are importable from here too.

Sampling is Efraimidis–Spirakis: each eligible enterprise gets the key ``E / w``,
``E`` standard exponential (``-log1p(-U)`` with ``U`` from ``Generator.random``)
and ``w`` its sampling weight; the ``k`` smallest keys of a stratum are its
sample, in the order a successive weighted draw takes them. :func:`run_draw` does
both draws and returns the record.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from analytics.draw_records import (
    RECORD_FLOAT_DIGITS,
    RECORD_FORMAT,
    draw_record,
    reasons_list,
    record_bytes,
    record_digest,
)
from analytics.draw_seeds import (
    new_seed,
    seed_commitment,
    seed_text,
    seeded_generator,
    verify_seed,
)
from analytics.errors import DrawError, StaffingError
from analytics.inspector_teams import assign_inspectors

__all__ = [
    "DEFAULT_QUOTAS",
    "RECORD_FLOAT_DIGITS",
    "RECORD_FORMAT",
    "STRATA",
    "DrawError",
    "StaffingError",
    "assign_inspectors",
    "draw_enterprises",
    "draw_record",
    "exponential_keys",
    "new_seed",
    "record_bytes",
    "record_digest",
    "run_draw",
    "sample_by_keys",
    "sampling_weights",
    "seed_commitment",
    "seed_text",
    "seeded_generator",
    "strata_order",
    "stratum_labels",
    "stratum_quota",
    "verify_seed",
]

#: Strata in draw order; any other stratum named in the quotas follows, sorted.
STRATA = ("key", "special", "general")

#: Share of each stratum drawn per quarter (a floor: the quota is rounded up).
DEFAULT_QUOTAS: Mapping[str, float] = MappingProxyType(
    {"key": 0.25, "special": 0.15, "general": 0.05}
)


# --- stratified weighted sampling (shared with analytics.backtest) -------------------


def strata_order(quotas: Mapping[str, float]) -> list[str]:
    """Strata of ``quotas`` in draw order; raises on a share outside [0, 1]."""
    for name, share in quotas.items():
        if not (isinstance(share, int | float) and 0.0 <= float(share) <= 1.0):
            raise DrawError(f"the quota share of stratum {name!r} must be in [0, 1]: {share!r}")
    return [s for s in STRATA if s in quotas] + sorted(set(quotas) - set(STRATA))


def stratum_labels(categories: ArrayLike, quotas: Mapping[str, float]) -> NDArray[np.object_]:
    """Stratum of each enterprise: its category, ``general`` where missing."""
    labels = pd.Series(np.asarray(categories, dtype=object)).replace("", None)
    out = labels.where(labels.notna(), "general").astype(str).to_numpy(dtype=object)
    unknown = sorted(set(out) - set(quotas))
    if unknown:
        raise DrawError(f"no quota for categories {', '.join(map(repr, unknown))}")
    return out


def stratum_quota(share: float, population: int) -> int:
    """``ceil(share × population)``, the least a bureau may draw from a stratum.

    Examples
    --------
    >>> stratum_quota(0.15, 20), stratum_quota(0.05, 21), stratum_quota(0.25, 0)
    (3, 2, 0)
    """
    return math.ceil(round(float(share) * population, 9))


def sampling_weights(
    weights: NDArray[np.float64], members: Sequence[NDArray[np.intp]], min_weight: float
) -> NDArray[np.float64]:
    """``max(weight, min_weight × stratum max)`` for each member; 1 in an all-zero stratum."""
    if not 0.0 < min_weight <= 1.0:
        raise DrawError(f"min_weight must be in (0, 1]: {min_weight}")
    out = np.zeros(weights.shape, dtype=np.float64)
    for rows in members:
        top = weights[rows].max() if rows.size else 0.0
        out[rows] = np.maximum(weights[rows], min_weight * top) if top > 0 else 1.0
    return out


def exponential_keys(rng: np.random.Generator, n_draws: int, n: int) -> NDArray[np.float64]:
    """``(n_draws, n)`` standard exponential variates ``-log1p(-U)``."""
    return -np.log1p(-rng.random((n_draws, n)))


def sample_by_keys(
    exponentials: NDArray[np.float64],
    weights: NDArray[np.float64],
    members: Sequence[NDArray[np.intp]],
    sizes: Sequence[int],
) -> NDArray[np.intp]:
    """Weighted sampling without replacement, stratum by stratum, one draw per row.

    Parameters
    ----------
    exponentials : (n_draws, n) array
        Standard exponential variates (:func:`exponential_keys`).
    weights : (n,) array
        Positive sampling weights of the members.
    members, sizes
        Row indices of each stratum's eligible enterprises, and how many to take.

    Returns
    -------
    (n_draws, sum(sizes)) array of row indices, stratum after stratum, each in draw order.

    Examples
    --------
    >>> e = exponential_keys(seeded_generator(1, "doc"), 2, 4)
    >>> sample_by_keys(e, np.ones(4), [np.arange(4)], [4]).shape
    (2, 4)
    """
    parts = [np.empty((exponentials.shape[0], 0), dtype=np.intp)]
    for rows, k in zip(members, sizes, strict=True):
        if k > rows.size:
            raise DrawError(f"cannot take {k} of {rows.size} enterprises")
        if k == 0:
            continue
        keys = exponentials[:, rows] / weights[rows]
        top = np.argpartition(keys, k - 1, axis=1)[:, :k] if k < rows.size else keys.argsort(1)
        order = np.take_along_axis(keys, top, 1).argsort(axis=1, kind="stable")
        parts.append(rows[np.take_along_axis(top, order, 1)])
    return np.concatenate(parts, axis=1)


# --- enterprises ---------------------------------------------------------------------


def _prepared(
    enterprises: pd.DataFrame, quotas: Mapping[str, float], exclude_since: dt.date | None
) -> pd.DataFrame:
    """Validated copy, sorted by credit code, with ``stratum``, ``reasons`` and ``_eligible``."""
    if not {"credit_code", "weight"} <= set(enterprises.columns):
        raise DrawError("enterprises need the columns credit_code and weight")
    frame = enterprises.assign(credit_code=enterprises["credit_code"].astype(str))
    dupes = frame["credit_code"][frame["credit_code"].duplicated()].unique()
    if dupes.size:
        raise DrawError(f"credit codes listed twice: {', '.join(dupes[:5])}")
    frame = frame.sort_values("credit_code", kind="stable").reset_index(drop=True)
    weight = pd.to_numeric(frame["weight"], errors="coerce").astype(float)
    bad = frame["credit_code"][~(np.isfinite(weight) & (weight >= 0))]
    if bad.size:
        raise DrawError(f"weights must be finite and ≥ 0: {', '.join(bad[:5])}")

    def column(name: str) -> pd.Series:
        return frame[name] if name in frame else pd.Series(None, index=frame.index, dtype=object)

    last = pd.to_datetime(column("last_inspected"))
    recent = last >= pd.Timestamp(exclude_since) if exclude_since is not None else False
    return frame.assign(
        name=column("name").fillna("").astype(str),
        stratum=stratum_labels(column("category"), quotas),
        weight=weight,
        last_inspected=last,
        reasons=pd.Series([reasons_list(v) for v in column("reasons")], frame.index, dtype=object),
        _eligible=~np.asarray(recent, dtype=bool),
    )


def draw_enterprises(
    enterprises: pd.DataFrame,
    *,
    quotas: Mapping[str, float] = DEFAULT_QUOTAS,
    exclude_since: dt.date | None,
    seed: str | int,
    min_weight: float = 0.05,
) -> pd.DataFrame:
    """Draw enterprises per stratum, risk-weighted, without replacement.

    Parameters
    ----------
    enterprises : DataFrame
        ``credit_code``, ``weight`` (risk score ≥ 0) and optionally ``name``,
        ``category`` (``key``/``special``/``general``; missing → ``general``),
        ``last_inspected`` (date or NaT) and ``reasons`` (list of str).
    quotas : mapping
        Share of each stratum to draw; the quota is ``ceil(share × population)``.
    exclude_since : date or None
        Enterprises inspected on or after this date are not eligible.
    seed : str or int
        The draw's seed; the same seed and enterprises give the same draw,
        whatever the order of the rows.
    min_weight : float
        Floor of the sampling weight as a share of the stratum's largest, so every
        eligible enterprise keeps a chance.

    Returns
    -------
    DataFrame
        The drawn rows in draw order with ``stratum``, ``weight``, ``probability``
        (the enterprise's share of its stratum's sampling weight) and ``draw_order``
        (from 1). ``attrs["strata"]`` maps each stratum to its ``population``,
        ``eligible``, ``quota``, ``selected`` and ``shortfall`` (quota − selected).

    Examples
    --------
    >>> frame = pd.DataFrame({"credit_code": list("abcd"), "weight": [1.0, 2.0, 3.0, 4.0]})
    >>> out = draw_enterprises(frame, quotas={"general": 0.5}, exclude_since=None, seed=7)
    >>> len(out), out.attrs["strata"]["general"]["quota"]
    (2, 2)
    """
    names = strata_order(quotas)
    frame = _prepared(enterprises, quotas, exclude_since)
    labels, eligible = frame["stratum"].to_numpy(), frame["_eligible"].to_numpy(bool)
    members = [np.flatnonzero((labels == s) & eligible) for s in names]
    strata = {}
    for name, rows in zip(names, members, strict=True):
        population = int((labels == name).sum())
        quota = stratum_quota(quotas[name], population)
        selected = min(quota, rows.size)
        strata[name] = {"population": population, "eligible": int(rows.size), "quota": quota}
        strata[name] |= {"selected": selected, "shortfall": quota - selected}
    weights = sampling_weights(frame["weight"].to_numpy(float), members, min_weight)
    exponentials = exponential_keys(seeded_generator(seed, "enterprises"), 1, len(frame))
    picked = sample_by_keys(exponentials, weights, members, [strata[s]["selected"] for s in names])
    totals = pd.Series(weights).groupby(labels).transform("sum").to_numpy()
    probability = np.divide(weights, totals, out=np.zeros_like(weights), where=totals > 0)
    out = frame.iloc[picked[0]].drop(columns="_eligible")
    out = out.assign(probability=probability[picked[0]], draw_order=np.arange(1, len(out) + 1))
    out = out.reset_index(drop=True)
    out.attrs["strata"] = strata
    return out


def run_draw(
    enterprises: pd.DataFrame,
    roster: pd.DataFrame,
    *,
    exclusions: Iterable[tuple[str, str]] = (),
    quotas: Mapping[str, float] = DEFAULT_QUOTAS,
    exclude_since: dt.date | None,
    seed: str | int,
    context: Mapping[str, Any],
    min_weight: float = 0.05,
    team_size: int = 2,
) -> dict[str, Any]:
    """Draw enterprises, assign inspectors and return the record.

    ``context`` holds ``data_version``, ``quarter`` and ``jurisdiction`` (required)
    and any further parameters to keep in the record.
    """
    missing = {"data_version", "quarter", "jurisdiction"} - set(context)
    if missing:
        raise DrawError(f"the draw context lacks {', '.join(sorted(missing))}")
    exclusions = sorted({(str(i), str(c)) for i, c in exclusions})
    drawn = draw_enterprises(
        enterprises, quotas=quotas, exclude_since=exclude_since, seed=seed, min_weight=min_weight
    )
    assigned = assign_inspectors(
        drawn, roster, exclusions=exclusions, seed=seed, team_size=team_size
    )
    parameters = {k: v for k, v in context.items() if k != "data_version"} | {
        "quotas": dict(quotas),
        "exclude_since": exclude_since,
        "min_weight": min_weight,
        "team_size": team_size,
        "roster_size": len(roster),
        "conflict_exclusions": len(exclusions),
    }
    return draw_record(
        assigned, seed=seed, data_version=context["data_version"], parameters=parameters
    )
