"""Inspection priority areas (contiguous risky H3 cells) and a plan that fits the inspector-days.

:func:`priority_areas` merges the cells of the chosen risk tiers that share an
edge (H3 ring 1) into areas — connected components of the adjacency graph — and
ranks them by the findings expected there. :func:`inspection_plan` picks the
enterprises whose expected findings are largest in total within the days the
inspectors have: an exact 0/1 knapsack over half-day units when the costs
allow it, else greedy by findings per day.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray
from scipy.sparse.csgraph import connected_components

from analytics.cells import cells_to_polygons
from analytics.errors import PriorityError
from analytics.weights import h3_ring_weights

#: Credit codes listed in ``top_enterprises`` at most.
MAX_TOP_ENTERPRISES = 10

#: Components named in an area's ``reasons`` at most.
MAX_AREA_REASONS = 3

#: Largest DP table (useful candidates × half-day slots, bytes) solved exactly by "auto".
MAX_EXACT_TABLE = 50_000_000

_AREA_COLUMNS = [
    "area_id",
    "rank",
    "cells",
    "score",
    "expected_findings",
    "reasons",
    "enterprises",
    "top_enterprises",
]


def _need(frame: pd.DataFrame, columns: Iterable[str], name: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise PriorityError(f"{name} lacks column(s) {', '.join(missing)}")


def _area_reasons(contributions: pd.DataFrame) -> list[str]:
    """Components by summed contribution, largest first, positive ones only."""
    total = contributions.sum()
    total = total[total > 0].sort_values(ascending=False, kind="stable")
    return [str(c).removeprefix("c_") for c in total.index[:MAX_AREA_REASONS]]


def _top_enterprises(enterprises: pd.DataFrame, label: NDArray[np.int64]) -> pd.DataFrame:
    """Each area's enterprises (label ≥ 0), riskiest first: ``label``, ``credit_code``."""
    inside = enterprises.assign(label=label)[label >= 0]
    return inside.sort_values(["label", "score", "credit_code"], ascending=[True, False, True])


def priority_areas(
    cells: pd.DataFrame,
    enterprises: pd.DataFrame,
    *,
    tiers: Iterable[str] = ("high",),
    min_cells: int = 1,
) -> gpd.GeoDataFrame:
    """Contiguous cells of the given risk tiers, merged into ranked priority areas.

    Two chosen cells belong to one area when a chain of chosen cells sharing
    edges (H3 grid distance 1) joins them: the areas are the connected
    components (``scipy.sparse.csgraph``) of the ring-1 adjacency graph.

    Parameters
    ----------
    cells : pandas.DataFrame
        :func:`analytics.risk.cell_risk` output: ``h3``, ``score``, ``tier``,
        ``expected_findings`` and the ``c_<component>`` columns.
    enterprises : pandas.DataFrame
        :func:`analytics.risk.enterprise_risk` output: ``credit_code``, ``h3``,
        ``score`` (at the cells' resolution).
    tiers : iterable of str, default ("high",)
        Tiers whose cells make areas.
    min_cells : int, default 1
        Smaller areas are left out.

    Returns
    -------
    geopandas.GeoDataFrame
        WGS84 (EPSG:4326), one row per area, ordered by ``area_id``:
        ``area_id`` (1..n: expected findings, then mean score, then size
        descending, then the smallest cell id), ``rank`` (1 + the number of
        areas with more expected findings: ties share a rank), ``cells``,
        ``score`` (mean over the cells), ``expected_findings`` (sum over the
        cells), ``reasons`` (up to 3 components with the largest summed
        contribution), ``enterprises`` (count), ``top_enterprises`` (credit
        codes of up to 10 enterprises inside, highest score first), and the
        union of the cells' hexagons as ``geometry``.

    Raises
    ------
    PriorityError
        Missing columns, duplicate cells, ``min_cells < 1``.

    Examples
    --------
    >>> import h3
    >>> blob = [h3.str_to_int(c) for c in h3.grid_disk(h3.latlng_to_cell(22.8, 108.3, 7), 1)]
    >>> cells = pd.DataFrame({"h3": blob, "score": 0.8, "tier": "high",
    ...                       "expected_findings": 1.0, "c_severity": 0.8})
    >>> ents = pd.DataFrame({"credit_code": ["A", "B"], "h3": blob[:2], "score": [0.5, 0.9]})
    >>> areas = priority_areas(cells, ents)
    >>> areas[["area_id", "cells", "expected_findings", "top_enterprises"]].values.tolist()
    [[1, 7, 7.0, ['B', 'A']]]
    >>> areas.geometry.iloc[0].geom_type, areas.crs.to_epsg()
    ('Polygon', 4326)
    """
    _need(cells, ("h3", "score", "tier", "expected_findings"), "cells")
    _need(enterprises, ("credit_code", "h3", "score"), "enterprises")
    if int(min_cells) != min_cells or min_cells < 1:
        raise PriorityError(f"min_cells must be a positive integer, got {min_cells}")
    chosen = cells[cells["tier"].isin(list(tiers))].sort_values("h3", kind="stable")
    if chosen["h3"].duplicated().any():
        raise PriorityError("cells contain duplicate h3 ids")
    ids = chosen["h3"].to_numpy(dtype=np.int64)
    _, label = connected_components(h3_ring_weights(ids, 1, include_self=False), directed=False)
    label = label.astype(np.int64)
    label[np.bincount(label, minlength=1)[label] < min_cells] = -1
    chosen = chosen.assign(label=label)[label >= 0]
    if chosen.empty:
        return gpd.GeoDataFrame(
            {c: pd.Series(dtype=object) for c in _AREA_COLUMNS}, geometry=[], crs="EPSG:4326"
        )
    return _areas(chosen, enterprises)


def _areas(chosen: pd.DataFrame, enterprises: pd.DataFrame) -> gpd.GeoDataFrame:
    """Summaries, names and geometry of the labelled cells' areas."""
    groups = chosen.groupby("label", sort=True)
    summary = groups.agg(
        cells=("h3", "size"),
        score=("score", "mean"),
        expected_findings=("expected_findings", "sum"),
        first_cell=("h3", "min"),
    )
    contributions = chosen.filter(regex="^c_").groupby(chosen["label"])
    summary["reasons"] = [_area_reasons(part) for _, part in contributions] or None
    where = pd.Series(chosen["label"].to_numpy(), index=chosen["h3"].to_numpy())
    ent_label = where.reindex(enterprises["h3"].to_numpy()).fillna(-1).to_numpy(np.int64)
    members = _top_enterprises(enterprises, ent_label).groupby("label")["credit_code"]
    summary["enterprises"] = members.size().reindex(summary.index, fill_value=0)
    top = members.apply(lambda codes: [str(c) for c in codes.iloc[:MAX_TOP_ENTERPRISES]])
    summary["top_enterprises"] = [top.get(k, []) for k in summary.index]
    polygons = cells_to_polygons(chosen["h3"].to_numpy(dtype=np.int64))
    geometry = [shapely.union_all(polygons[idx]) for idx in groups.indices.values()]
    summary = gpd.GeoDataFrame(summary, geometry=geometry, crs="EPSG:4326")
    summary = summary.sort_values(
        ["expected_findings", "score", "cells", "first_cell"],
        ascending=[False, False, False, True],
        kind="stable",
    )
    summary["area_id"] = np.arange(1, len(summary) + 1)
    summary["rank"] = summary["expected_findings"].rank(method="min", ascending=False)
    summary["rank"] = summary["rank"].astype(np.int64)
    summary["cells"] = summary["cells"].astype(np.int64)
    summary["enterprises"] = summary["enterprises"].astype(np.int64)
    return summary[[*_AREA_COLUMNS, "geometry"]].reset_index(drop=True)


def _costs(
    enterprises: pd.DataFrame, days_per_enterprise: float | Mapping[str, float]
) -> NDArray[np.float64]:
    days: NDArray[np.float64]
    if isinstance(days_per_enterprise, Mapping):
        _need(enterprises, ("category",), "enterprises")
        category = enterprises["category"].fillna("general")
        unknown = sorted(set(category) - set(days_per_enterprise))
        if unknown:
            raise PriorityError(f"days_per_enterprise has no cost for categories {unknown}")
        days = np.asarray(category.map(dict(days_per_enterprise)), dtype=np.float64)
    else:
        days = np.full(len(enterprises), float(days_per_enterprise), dtype=np.float64)
    if not (np.isfinite(days).all() and (days > 0).all()):
        raise PriorityError("days per enterprise must be finite and > 0")
    return days


def _knapsack(
    units: NDArray[np.int64], values: NDArray[np.float64], capacity: int
) -> NDArray[np.bool_]:
    """Exact 0/1 knapsack by dynamic programming over integer units (e.g. half-days).

    ``O(n · capacity)`` time and a boolean table of that size. Among equal
    totals the earlier items are kept (strict improvement only).

    Examples
    --------
    >>> _knapsack(np.array([2, 3, 4]), np.array([3.0, 4.0, 6.0]), 6).tolist()
    [True, False, True]
    """
    n = units.size
    best = np.zeros(capacity + 1)
    take = np.zeros((n, capacity + 1), dtype=bool)
    for i in range(n):
        w = int(units[i])
        if w > capacity:
            continue
        candidate = best[: capacity + 1 - w] + values[i]
        better = candidate > best[w:]
        take[i, w:] = better
        best[w:] = np.where(better, candidate, best[w:])
    chosen = np.zeros(n, dtype=bool)
    left = capacity
    for i in range(n - 1, -1, -1):
        if take[i, left]:
            chosen[i] = True
            left -= int(units[i])
    return chosen


def _greedy(
    days: NDArray[np.float64], values: NDArray[np.float64], capacity: float
) -> NDArray[np.bool_]:
    """Greedy by value per day (skipping what no longer fits), or the best single item if
    that alone is worth more: at least half the optimum."""
    order = np.lexsort((-values, -values / days))
    chosen = np.zeros(days.size, dtype=bool)
    used = 0.0
    for i in order:
        if used + days[i] <= capacity + 1e-9:
            chosen[i] = True
            used += days[i]
    fits = np.flatnonzero(days <= capacity + 1e-9)
    if fits.size and values[fits].max() > values[chosen].sum():
        chosen[:] = False
        chosen[fits[np.argmax(values[fits])]] = True
    return chosen


def _in_areas(enterprises: pd.DataFrame, areas: gpd.GeoDataFrame) -> NDArray[np.int64]:
    """``area_id`` of the area holding each enterprise's cell centre; −1 outside all."""
    _need(enterprises, ("h3",), "enterprises")
    _need(areas, ("area_id",), "areas")
    area_id = np.full(len(enterprises), -1, dtype=np.int64)
    cells = enterprises["h3"].to_numpy(dtype=np.int64)
    located = cells != 0
    if not located.any() or areas.empty:
        return area_id
    centres = shapely.centroid(cells_to_polygons(cells[located]))
    x, y = shapely.get_x(centres), shapely.get_y(centres)
    found = np.full(x.size, -1, dtype=np.int64)
    for geom, aid in zip(areas.to_crs("EPSG:4326").geometry, areas["area_id"], strict=True):
        found[(found < 0) & shapely.contains_xy(geom, x, y)] = int(aid)
    area_id[located] = found
    return area_id


def _solve(
    days: NDArray[np.float64], values: NDArray[np.float64], capacity: float, method: str
) -> tuple[NDArray[np.bool_], str]:
    """Which items to take, and how it was decided (``exact`` or ``greedy``)."""
    units = np.rint(days * 2).astype(np.int64)
    half_days = bool(np.allclose(units, days * 2, rtol=0, atol=1e-9) and (units > 0).all())
    if method == "exact" and not half_days:
        raise PriorityError("the exact plan needs days per enterprise in multiples of 0.5")
    slots = int(np.floor(capacity * 2 + 1e-9))
    if half_days and method != "greedy":
        # Among items of one cost an optimum can always take the most valuable first, so
        # no more than slots // cost of each cost are ever needed: the rest stay out.
        rank = pd.Series(-values).groupby(units).rank(method="first").to_numpy()
        useful = np.flatnonzero(rank <= slots // units)
        if method == "exact" or useful.size * (slots + 1) <= MAX_EXACT_TABLE:
            chosen = np.zeros(days.size, dtype=bool)
            chosen[useful] = _knapsack(units[useful], values[useful], slots)
            return chosen, "exact"
    return _greedy(days, values, capacity), "greedy"


def inspection_plan(
    enterprises: pd.DataFrame,
    *,
    inspector_days: float,
    days_per_enterprise: float | Mapping[str, float] = 1.0,
    areas: gpd.GeoDataFrame | None = None,
    method: Literal["auto", "exact", "greedy"] = "auto",
) -> pd.DataFrame:
    """The enterprises to inspect that cover the most expected findings within the days.

    A 0/1 knapsack: each enterprise costs its days and is worth its
    ``expected_findings``. ``method="auto"`` solves it exactly (dynamic
    programming over half-day units) when every cost is a multiple of half a
    day and the table, candidates × (2 · ``inspector_days`` + 1), has at most
    ``MAX_EXACT_TABLE`` cells — of the enterprises with one cost only the
    ``capacity // cost`` most valuable count as candidates, since an optimum
    never needs more —; otherwise greedily by findings per day, keeping
    the single best enterprise instead when it alone is worth more (at least
    half the optimum). Enterprises without expected findings are not planned.

    Parameters
    ----------
    enterprises : pandas.DataFrame
        :func:`analytics.risk.enterprise_risk` output (``credit_code``,
        ``expected_findings``; ``category`` for costs by category, ``h3`` with
        ``areas``).
    inspector_days : float
        Capacity, in inspector-days (≥ 0; the exact method uses whole half-days).
    days_per_enterprise : float or mapping, default 1.0
        Days one inspection takes, or per ``category`` (missing category:
        ``general``); every category present needs a cost.
    areas : geopandas.GeoDataFrame, optional
        :func:`priority_areas` output: only enterprises whose cell centre lies
        in an area are candidates, and the plan gets their ``area_id``.
    method : {"auto", "exact", "greedy"}, default "auto"

    Returns
    -------
    pandas.DataFrame
        The chosen rows of ``enterprises`` (their columns), most expected
        findings first, with ``days`` and ``findings_per_day`` (and ``area_id``
        with ``areas``). ``attrs["summary"]``: ``method``, ``inspector_days``,
        ``days_used``, ``enterprises``, ``candidates``, ``expected_findings``
        (covered) and ``share_of_expected_findings`` (of all the given
        enterprises' expected findings; 0 when they have none).

    Raises
    ------
    PriorityError
        Missing columns, bad capacity or costs, a category without a cost, or
        ``method="exact"`` with costs that are not half-days.

    Examples
    --------
    >>> ents = pd.DataFrame({"credit_code": ["A", "B", "C"], "category": ["key", "general", "key"],
    ...                      "expected_findings": [3.0, 1.0, 2.5]})
    >>> cost = {"key": 1.5, "general": 1.0}
    >>> plan = inspection_plan(ents, inspector_days=3, days_per_enterprise=cost)
    >>> plan["credit_code"].tolist(), plan.attrs["summary"]["days_used"]
    (['A', 'C'], 3.0)
    """
    _need(enterprises, ("credit_code", "expected_findings"), "enterprises")
    if not (np.isfinite(inspector_days) and inspector_days >= 0):
        raise PriorityError(f"inspector_days must be finite and ≥ 0, got {inspector_days}")
    if method not in ("auto", "exact", "greedy"):
        raise PriorityError(f"method must be auto, exact or greedy, got {method!r}")
    days = _costs(enterprises, days_per_enterprise)
    values = pd.to_numeric(enterprises["expected_findings"], errors="coerce").to_numpy(np.float64)
    candidate = np.isfinite(values) & (values > 0)
    plan = enterprises.assign(days=days, findings_per_day=values / days)
    if areas is not None:
        plan["area_id"] = _in_areas(enterprises, areas)
        candidate &= plan["area_id"].to_numpy() > 0
    pool = plan[candidate].sort_values(
        ["expected_findings", "credit_code"], ascending=[False, True], kind="stable"
    )
    chosen, how = _solve(
        pool["days"].to_numpy(),
        pool["expected_findings"].to_numpy(np.float64),
        float(inspector_days),
        method,
    )
    picked = pool[chosen]
    total = float(np.nansum(np.clip(values, 0, None)))
    covered = float(picked["expected_findings"].sum())
    picked.attrs = {
        "summary": {
            "method": how,
            "inspector_days": float(inspector_days),
            "days_used": float(picked["days"].sum()),
            "enterprises": len(picked),
            "candidates": len(pool),
            "expected_findings": covered,
            "share_of_expected_findings": covered / total if total > 0 else 0.0,
        }
    }
    return picked
