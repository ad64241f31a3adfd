"""H3 hexagon aggregates of cases, inspections and the register, with effort-corrected rates.

Every count and sum is additive, so aggregates of partitions (by month, by
province, on several machines) add up to the aggregate of the whole. Distinct
counts (enterprises) are additive across cells but not across time partitions.

Cells are computed from each record's coordinates at the target resolution
(not as parents of a finer cell: H3 children do not nest exactly, and about 6 %
of points would land in a neighbouring parent).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from analytics.cells import points_to_cells
from analytics.errors import AnalyticsError

RESOLUTIONS = range(5, 11)

#: Columns of :func:`hexagon_aggregates`, in order.
COLUMNS = (
    "h3",
    "resolution",
    "cases",
    "inspections",
    "problems_found",
    "penalty_sum",
    "enterprises",
    "inspected_enterprises",
    "offending_enterprises",
    "repeat_offenders",
    "cases_per_enterprise",
    "cases_per_inspected_enterprise",
    "problems_per_inspection",
)


class ResolutionError(AnalyticsError):
    """An H3 resolution outside the range the service aggregates at."""


@dataclass(frozen=True)
class Records:
    """Located records of one kind: WGS84 coordinates and the fields aggregates need.

    ``amount`` is the penalty (cases), ``flag`` whether a problem was found
    (inspections); ``entity`` is the enterprise's credit code (may be missing).
    """

    lon: NDArray[np.float64]
    lat: NDArray[np.float64]
    entity: NDArray[np.object_] = field(default_factory=lambda: np.empty(0, dtype=object))
    amount: NDArray[np.float64] = field(default_factory=lambda: np.empty(0))
    flag: NDArray[np.bool_] = field(default_factory=lambda: np.empty(0, dtype=bool))

    @classmethod
    def of(cls, lon: ArrayLike, lat: ArrayLike, **fields: ArrayLike) -> Records:
        """Build from array-likes, filling absent fields with neutral values."""
        x = np.asarray(lon, dtype=np.float64)
        n = x.shape[0]
        entity = np.asarray(fields.get("entity", np.full(n, None)), dtype=object)
        amount = np.asarray(fields.get("amount", np.zeros(n)), dtype=np.float64)
        flag = np.asarray(fields.get("flag", np.zeros(n, dtype=bool)), dtype=bool)
        return cls(x, np.asarray(lat, dtype=np.float64), entity, amount, flag)

    def __len__(self) -> int:
        return int(self.lon.shape[0])


def count_points_per_cell(
    lon: ArrayLike, lat: ArrayLike, resolution: int
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Distinct H3 cells of the points and how many points each holds (cells sorted).

    Examples
    --------
    >>> cells, counts = count_points_per_cell([108.30, 108.30, 110.0], [22.80, 22.80, 25.0], 8)
    >>> sorted(counts.tolist())
    [1, 2]
    """
    _check(resolution)
    cells = points_to_cells(lon, lat, resolution)
    unique, counts = np.unique(cells, return_counts=True)
    return unique, counts.astype(np.int64)


def _check(resolution: int) -> None:
    if resolution not in RESOLUTIONS:
        raise ResolutionError(f"resolution must be {RESOLUTIONS.start}..{RESOLUTIONS.stop - 1}")


def _distinct_per_cell(cells: NDArray[np.int64], entity: NDArray[np.object_]) -> pd.DataFrame:
    """Per cell: distinct entities, and entities seen at least twice (repeat offenders)."""
    frame = pd.DataFrame({"h3": cells, "entity": entity}).dropna()
    frame = frame[frame["entity"].astype(str) != ""]
    per = frame.groupby(["h3", "entity"], sort=False).size()
    out = pd.DataFrame(
        {"distinct": per.groupby(level=0).size(), "repeat": (per >= 2).groupby(level=0).sum()}
    )
    return out


def hexagon_aggregates(
    cases: Records,
    inspections: Records,
    register: Records,
    resolution: int,
) -> pd.DataFrame:
    """Counts, sums and rates per H3 cell at ``resolution``.

    Parameters
    ----------
    cases, inspections, register : Records
        Located penalty cases (``amount`` = penalty in yuan, ``entity`` = credit
        code), inspections (``flag`` = problem found) and register enterprises.
    resolution : int
        H3 resolution, 5–10.

    Returns
    -------
    pandas.DataFrame
        One row per cell holding any record, columns :data:`COLUMNS`:
        ``cases``, ``inspections``, ``problems_found``, ``penalty_sum`` (yuan),
        ``enterprises`` (register entries in the cell), ``inspected_enterprises``,
        ``offending_enterprises`` and ``repeat_offenders`` (enterprises with ≥ 2
        cases), and the rates that correct for effort — ``cases_per_enterprise``,
        ``cases_per_inspected_enterprise`` and ``problems_per_inspection`` (NaN
        where the denominator is 0) — so that more inspections are not mistaken
        for more violations.

    Examples
    --------
    >>> c = Records.of([108.3, 108.3], [22.8, 22.8], entity=["A", "A"], amount=[1e4, 2e4])
    >>> i = Records.of([108.3], [22.8], entity=["A"], flag=[True])
    >>> r = Records.of([108.3], [22.8], entity=["A"])
    >>> row = hexagon_aggregates(c, i, r, 8).iloc[0]
    >>> int(row.cases), float(row.penalty_sum), int(row.repeat_offenders)
    (2, 30000.0, 1)
    >>> float(row.problems_per_inspection), float(row.cases_per_inspected_enterprise)
    (1.0, 2.0)
    """
    _check(resolution)
    case_cells = points_to_cells(cases.lon, cases.lat, resolution)
    inspection_cells = points_to_cells(inspections.lon, inspections.lat, resolution)
    register_cells = points_to_cells(register.lon, register.lat, resolution)
    parts = [
        pd.DataFrame({"h3": case_cells, "cases": 1, "penalty_sum": np.nan_to_num(cases.amount)}),
        pd.DataFrame(
            {"h3": inspection_cells, "inspections": 1, "problems_found": inspections.flag}
        ),
        pd.DataFrame({"h3": register_cells, "enterprises": 1}),  # one register row per source
    ]
    out = pd.concat(parts).groupby("h3", sort=True).sum(min_count=0)
    out = out.reindex(
        columns=["cases", "inspections", "problems_found", "penalty_sum", "enterprises"]
    ).fillna(0)
    inspected = _distinct_per_cell(inspection_cells, inspections.entity)
    offending = _distinct_per_cell(case_cells, cases.entity)
    out["inspected_enterprises"] = inspected["distinct"]
    out["offending_enterprises"] = offending["distinct"]
    out["repeat_offenders"] = offending["repeat"]
    counts = [
        "cases",
        "inspections",
        "problems_found",
        "enterprises",
        "inspected_enterprises",
        "offending_enterprises",
        "repeat_offenders",
    ]
    out[counts] = out[counts].fillna(0).astype(np.int64)
    out["cases_per_enterprise"] = _ratio(out["cases"], out["enterprises"])
    out["cases_per_inspected_enterprise"] = _ratio(out["cases"], out["inspected_enterprises"])
    out["problems_per_inspection"] = _ratio(out["problems_found"], out["inspections"])
    out["resolution"] = resolution
    return out.reset_index()[list(COLUMNS)]


def _ratio(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    return (numerator / denominator.where(denominator > 0)).astype(np.float64)


def aggregate_parameters(resolution: int, **extra: Any) -> dict[str, Any]:
    """Provenance of a hexagon layer: the resolution and what the rates mean."""
    return {"resolution": resolution, "cell_ids": "H3 v4", **extra}
