"""Additive partial aggregates: per-partition pieces that add up to the aggregate of the whole.

A build on a cluster computes one set of partials per partition of the records
(a province's month of cases, say), adds them, and runs the final statistic
once on the sum with the same functions as the single-machine build:

- hexagons: per-cell counts and sums, and per-(cell, enterprise) record counts,
  from which distinct enterprises and repeat offenders follow exactly
  (:class:`HexagonPartial`, finished by :func:`hexagon_table`, the table of
  :func:`analytics.hexagons.hexagon_aggregates`);
- Gi*: per-cell case counts (the ``cases`` of a hexagon partial), laid on
  the area's cells by :func:`counts_on_cells`;
- the emerging cube: counts per (cell, calendar month) (:class:`MonthCounts`),
  laid out by step by :func:`month_cube`;
- KDE: moments and bounds of the points (:class:`PointMoments`) for the shared
  grid and the bandwidth, then binned grids (:func:`analytics.density.bin_points`,
  kept sparse while small: :class:`BinnedGrid`) that add.

Every partial supports ``+``; the empty partial of each kind is its zero. A stream of
partials (one per chunk of a table, or per partition) is summed by
:func:`sum_partials` in a balanced tree, so that the cost stays ``n log n`` in the
chunks rather than growing with the running total at every addition.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from analytics.cells import points_to_cells
from analytics.errors import AnalyticsError
from analytics.hexagons import COLUMNS, Records

#: Additive columns of a hexagon partial, in :func:`hexagon_aggregates`'s order.
SUMS = ("cases", "inspections", "problems_found", "penalty_sum", "enterprises")
_COUNTS = ("cases", "inspections", "problems_found", "enterprises")
STEPS = ("month", "quarter")


class PartialsError(AnalyticsError):
    """Partials that cannot be combined or finished (different resolutions, no points)."""


def _pair_counts(cells: NDArray[np.int64], entity: NDArray[np.object_]) -> pd.Series:
    """Records per (cell, entity), missing and empty entities left out."""
    frame = pd.DataFrame({"h3": cells, "entity": entity}).dropna()
    frame = frame[frame["entity"].astype(str) != ""]
    return frame.groupby(["h3", "entity"], sort=False).size().astype(np.int64)


def _add_series(a: pd.Series, b: pd.Series) -> pd.Series:
    if a.empty:
        return b
    if b.empty:
        return a
    return pd.concat([a, b]).groupby(level=list(range(a.index.nlevels)), sort=False).sum()


def _empty_pairs() -> pd.Series:
    index = pd.MultiIndex.from_arrays(
        [np.empty(0, np.int64), np.empty(0, object)], names=["h3", "entity"]
    )
    return pd.Series(np.empty(0, np.int64), index=index)


@dataclass(frozen=True)
class HexagonPartial:
    """The additive part of :func:`analytics.hexagons.hexagon_aggregates` for some records.

    ``sums``: per cell (index ``h3``) the :data:`SUMS`; ``offending`` and
    ``inspected``: cases and inspections per (cell, credit code).
    """

    resolution: int
    sums: pd.DataFrame
    offending: pd.Series = field(default_factory=_empty_pairs)
    inspected: pd.Series = field(default_factory=_empty_pairs)

    def __add__(self, other: HexagonPartial) -> HexagonPartial:
        if other.resolution != self.resolution:
            raise PartialsError(f"resolutions {self.resolution} and {other.resolution} differ")
        sums = pd.concat([self.sums, other.sums]).groupby(level=0, sort=False).sum()
        return HexagonPartial(
            self.resolution,
            sums,
            _add_series(self.offending, other.offending),
            _add_series(self.inspected, other.inspected),
        )


def hexagon_partial(
    resolution: int,
    *,
    cases: Records | None = None,
    inspections: Records | None = None,
    register: Records | None = None,
) -> HexagonPartial:
    """The hexagon partial of some cases, inspections and register entries (any may be absent).

    Examples
    --------
    >>> a = hexagon_partial(8, cases=Records.of([108.3], [22.8], entity=["A"], amount=[1e4]))
    >>> b = hexagon_partial(8, cases=Records.of([108.3], [22.8], entity=["A"], amount=[2e4]))
    >>> row = hexagon_table(a + b).iloc[0]
    >>> int(row.cases), float(row.penalty_sum), int(row.repeat_offenders)
    (2, 30000.0, 1)
    """
    parts = []
    offending, inspected = _empty_pairs(), _empty_pairs()
    if cases is not None and len(cases):
        cells = points_to_cells(cases.lon, cases.lat, resolution)
        parts.append(
            pd.DataFrame({"h3": cells, "cases": 1, "penalty_sum": np.nan_to_num(cases.amount)})
        )
        offending = _pair_counts(cells, cases.entity)
    if inspections is not None and len(inspections):
        cells = points_to_cells(inspections.lon, inspections.lat, resolution)
        found = inspections.flag.astype(np.int64)
        parts.append(pd.DataFrame({"h3": cells, "inspections": 1, "problems_found": found}))
        inspected = _pair_counts(cells, inspections.entity)
    if register is not None and len(register):
        cells = points_to_cells(register.lon, register.lat, resolution)
        parts.append(pd.DataFrame({"h3": cells, "enterprises": 1}))
    sums = pd.DataFrame(
        {c: pd.Series(dtype=np.float64 if c == "penalty_sum" else np.int64) for c in SUMS},
        index=pd.Index([], dtype=np.int64, name="h3"),
    )
    if parts:
        frame = pd.concat(parts).fillna(0).reindex(columns=["h3", *SUMS], fill_value=0)
        frame = frame.astype({c: np.int64 for c in _COUNTS} | {"penalty_sum": np.float64})
        sums = frame.groupby("h3", sort=False).sum()
    return HexagonPartial(resolution, sums, offending, inspected)


def _distinct(pairs: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Per cell: distinct entities, and entities with at least two records."""
    if pairs.empty:
        return pd.Series(dtype=np.int64), pd.Series(dtype=np.int64)
    by_cell = pairs.groupby(level=0)
    return by_cell.size(), (pairs >= 2).groupby(level=0).sum()


def _ratio(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    return (numerator / denominator.where(denominator > 0)).astype(np.float64)


def hexagon_table(partial: HexagonPartial) -> pd.DataFrame:
    """The table of :func:`analytics.hexagons.hexagon_aggregates` from a (summed) partial."""
    out = partial.sums.sort_index().reindex(columns=list(SUMS))
    out.index = out.index.astype(np.int64)
    out.index.name = "h3"
    inspected, _ = _distinct(partial.inspected)
    offending, repeat = _distinct(partial.offending)
    out["inspected_enterprises"] = inspected
    out["offending_enterprises"] = offending
    out["repeat_offenders"] = repeat
    counts = [*_COUNTS, "inspected_enterprises", "offending_enterprises", "repeat_offenders"]
    out[counts] = out[counts].fillna(0).astype(np.int64)
    out["penalty_sum"] = out["penalty_sum"].astype(np.float64)
    out["cases_per_enterprise"] = _ratio(out["cases"], out["enterprises"])
    out["cases_per_inspected_enterprise"] = _ratio(out["cases"], out["inspected_enterprises"])
    out["problems_per_inspection"] = _ratio(out["problems_found"], out["inspections"])
    out["resolution"] = partial.resolution
    return out.reset_index()[list(COLUMNS)]


def counts_on_cells(all_cells: ArrayLike, counts: pd.Series) -> NDArray[np.int64]:
    """Per-cell counts (index ``h3``) laid on ``all_cells``: zeros elsewhere, others dropped.

    Examples
    --------
    >>> counts_on_cells([5, 7, 9], pd.Series([2, 4], index=[7, 8])).tolist()
    [0, 2, 0]
    """
    cells = np.asarray(all_cells, dtype=np.int64)
    return counts.reindex(cells, fill_value=0).to_numpy(np.int64)


def month_ordinals(dates: Any) -> NDArray[np.int64]:
    """Calendar months as integers (``year · 12 + month − 1``), additive across partitions.

    Examples
    --------
    >>> month_ordinals([dt.date(2024, 1, 31), dt.date(2024, 12, 1)]).tolist()
    [24288, 24299]
    """
    stamps = pd.DatetimeIndex(pd.to_datetime(pd.Series(dates, dtype=object)))
    return (stamps.year.to_numpy(np.int64) * 12 + stamps.month.to_numpy(np.int64) - 1).astype(
        np.int64
    )


@dataclass(frozen=True)
class MonthCounts:
    """Records per (cell, month ordinal) at one resolution, and the months' first and last."""

    resolution: int
    counts: pd.Series  # index (h3, month)
    first_month: int | None = None
    last_month: int | None = None

    def __add__(self, other: MonthCounts) -> MonthCounts:
        if other.resolution != self.resolution:
            raise PartialsError(f"resolutions {self.resolution} and {other.resolution} differ")
        firsts = [m for m in (self.first_month, other.first_month) if m is not None]
        lasts = [m for m in (self.last_month, other.last_month) if m is not None]
        return MonthCounts(
            self.resolution,
            _add_series(self.counts, other.counts),
            min(firsts) if firsts else None,
            max(lasts) if lasts else None,
        )


def month_counts(records: Records, months: ArrayLike, resolution: int) -> MonthCounts:
    """The space-time partial of located records with their month ordinals."""
    month = np.asarray(months, dtype=np.int64)
    cells = points_to_cells(records.lon, records.lat, resolution)
    frame = pd.DataFrame({"h3": cells, "month": month})
    counts = frame.groupby(["h3", "month"], sort=False).size().astype(np.int64)
    if month.size == 0:
        return MonthCounts(resolution, counts)
    return MonthCounts(resolution, counts, int(month.min()), int(month.max()))


@dataclass(frozen=True)
class MonthSpan:
    """The first and last month ordinal of some records (``None`` for none): the span the
    time steps of a space-time layer cover when the filters leave the period open.

    Examples
    --------
    >>> (MonthSpan.of([24290, 24288]) + MonthSpan.of([]) + MonthSpan.of([24299])).last
    24299
    """

    first: int | None = None
    last: int | None = None

    @classmethod
    def of(cls, months: ArrayLike) -> MonthSpan:
        """The span of some month ordinals (:func:`month_ordinals`)."""
        month = np.asarray(months, dtype=np.int64)
        return cls(int(month.min()), int(month.max())) if month.size else cls()

    def __add__(self, other: MonthSpan) -> MonthSpan:
        firsts = [m for m in (self.first, other.first) if m is not None]
        lasts = [m for m in (self.last, other.last) if m is not None]
        return MonthSpan(min(firsts, default=None), max(lasts, default=None))


def step_labels(first: dt.date, last: dt.date, step: str) -> tuple[int, list[str]]:
    """The first step's ordinal (months, or quarters = months // 3) and every step's label.

    Examples
    --------
    >>> step_labels(dt.date(2024, 2, 3), dt.date(2024, 7, 1), "quarter")
    (8096, ['2024-Q1', '2024-Q2', '2024-Q3'])
    """
    if step not in STEPS:
        raise PartialsError(f"time step {step!r}; expected one of {', '.join(STEPS)}")
    freq = "M" if step == "month" else "Q"
    periods = pd.period_range(
        pd.Timestamp(first).to_period(freq), pd.Timestamp(last).to_period(freq), freq=freq
    )
    labels = [str(p) if step == "month" else f"{p.year}-Q{p.quarter}" for p in periods]
    first_ordinal = int(month_ordinals([first])[0])
    return (first_ordinal if step == "month" else first_ordinal // 3), labels


def month_cube(
    partial: MonthCounts, all_cells: ArrayLike, first_step: int, n_steps: int, step: str
) -> NDArray[np.int64]:
    """The ``n_cells × n_steps`` count cube of :func:`analytics.emerging.space_time_cube`.

    Records of cells outside ``all_cells`` are left out, as the single-machine
    layer leaves out cases outside the area.
    """
    cells = np.asarray(all_cells, dtype=np.int64)
    cube = np.zeros((cells.size, int(n_steps)), dtype=np.int64)
    if partial.counts.empty:
        return cube
    h3 = partial.counts.index.get_level_values(0).to_numpy(np.int64)
    month = partial.counts.index.get_level_values(1).to_numpy(np.int64)
    steps = (month if step == "month" else month // 3) - first_step
    row = pd.Index(cells).get_indexer(pd.Index(h3))
    keep = (row >= 0) & (steps >= 0) & (steps < n_steps)
    np.add.at(cube, (row[keep], steps[keep]), partial.counts.to_numpy(np.int64)[keep])
    return cube


@dataclass(frozen=True)
class PointMoments:
    """Count, weight, weighted coordinate sums and bounds of points (metres)."""

    n: int = 0
    weight: float = 0.0
    wx: float = 0.0
    wy: float = 0.0
    x_min: float = np.inf
    x_max: float = -np.inf
    y_min: float = np.inf
    y_max: float = -np.inf

    def __add__(self, other: PointMoments) -> PointMoments:
        return PointMoments(
            self.n + other.n,
            self.weight + other.weight,
            self.wx + other.wx,
            self.wy + other.wy,
            min(self.x_min, other.x_min),
            max(self.x_max, other.x_max),
            min(self.y_min, other.y_min),
            max(self.y_max, other.y_max),
        )

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """``(x_min, x_max, y_min, y_max)`` for :func:`analytics.density.density_grid`."""
        return (self.x_min, self.x_max, self.y_min, self.y_max)

    @property
    def centre(self) -> tuple[float, float]:
        """The weighted mean centre."""
        if self.weight <= 0:
            raise PartialsError("no weight: the points have no mean centre")
        return (self.wx / self.weight, self.wy / self.weight)


def point_moments(x_m: ArrayLike, y_m: ArrayLike, weights: ArrayLike) -> PointMoments:
    """The moments of some points with their weights (NaN weights count 0).

    Examples
    --------
    >>> m = point_moments([0.0, 2.0], [0.0, 0.0], [1.0, 1.0]) + point_moments([4.0], [3.0], [2.0])
    >>> m.n, m.centre, m.bounds
    (3, (2.5, 1.5), (0.0, 4.0, 0.0, 3.0))
    """
    x, y = np.asarray(x_m, dtype=np.float64), np.asarray(y_m, dtype=np.float64)
    w = np.nan_to_num(np.asarray(weights, dtype=np.float64))
    if x.size == 0:
        return PointMoments()
    return PointMoments(
        int(x.size),
        float(w.sum()),
        float(np.multiply(x, w).sum()),
        float(np.multiply(y, w).sum()),
        float(x.min()),
        float(x.max()),
        float(y.min()),
        float(y.max()),
    )


def silverman_from_distances(d2_m2: ArrayLike, weights: ArrayLike) -> float:
    """:func:`analytics.density.silverman_bandwidth_m` from squared distances to the centre.

    The distances of every partition's points, concatenated in any order, give the
    same bandwidth as the points.

    Examples
    --------
    >>> from analytics.density import silverman_bandwidth_m
    >>> x, y = np.array([0.0, 100.0, 300.0, 50.0]), np.array([0.0, 20.0, -40.0, 10.0])
    >>> cx, cy = x.mean(), y.mean()
    >>> bool(np.isclose(silverman_from_distances((x - cx) ** 2 + (y - cy) ** 2, np.ones(4)),
    ...                 silverman_bandwidth_m(x, y)))
    True
    """
    d2 = np.asarray(d2_m2, dtype=np.float64)
    w = np.nan_to_num(np.asarray(weights, dtype=np.float64))
    if d2.size < 2 or w.sum() <= 0:
        raise PartialsError("the bandwidth rule needs at least two points with weight")
    sd = float(np.sqrt(np.average(d2, weights=w)))
    order = np.argsort(d2, kind="stable")
    cumulative = np.cumsum(w[order])
    dm = float(np.sqrt(d2[order][np.searchsorted(cumulative, cumulative[-1] / 2.0)]))
    return 0.9 * min(sd, np.sqrt(1.0 / np.log(2.0)) * dm) * float(w.sum()) ** -0.2


@dataclass(frozen=True)
class BinnedGrid:
    """Binned weights on a grid of ``shape``, kept sparse (flat cell index → weight) while few.

    A partition's points touch a few cells of a large grid: adding sparse grids moves
    those cells, not the whole grid; past a third of the cells the sum turns dense.
    """

    shape: tuple[int, int]
    index: NDArray[np.int64]
    values: NDArray[np.float64]
    dense: NDArray[np.float64] | None = None

    @classmethod
    def of(cls, binned: NDArray[np.float64]) -> BinnedGrid:
        """The sparse form of a dense binned grid (e.g. from :func:`bin_points`)."""
        index = np.flatnonzero(binned)
        shape = (int(binned.shape[0]), int(binned.shape[1]))
        return cls(shape, index.astype(np.int64), binned.ravel()[index])

    def to_array(self) -> NDArray[np.float64]:
        """The dense ``shape`` array."""
        if self.dense is not None:
            return self.dense
        size = self.shape[0] * self.shape[1]
        dense = np.bincount(self.index, weights=self.values, minlength=size)
        return dense.astype(np.float64).reshape(self.shape)

    def __add__(self, other: BinnedGrid) -> BinnedGrid:
        if other.shape != self.shape:
            raise PartialsError(f"grids of shapes {self.shape} and {other.shape} differ")
        size = self.shape[0] * self.shape[1]
        if (
            self.dense is not None
            or other.dense is not None
            or (3 * (self.index.size + other.index.size) > size)
        ):
            empty = np.empty(0, np.int64)
            return BinnedGrid(self.shape, empty, np.empty(0), self.to_array() + other.to_array())
        cells, row = np.unique(np.concatenate([self.index, other.index]), return_inverse=True)
        values = np.bincount(row, weights=np.concatenate([self.values, other.values]))
        return BinnedGrid(self.shape, cells.astype(np.int64), values.astype(np.float64))


def add_partials(*parts: dict[str, Any]) -> dict[str, Any]:
    """Partials keyed by name, added key by key (a key missing from a part adds nothing).

    Examples
    --------
    >>> add_partials({"a": 1, "b": 2}, {"b": 3}, {"c": np.ones(2)})["b"]
    5
    """
    out: dict[str, Any] = {}
    for part in parts:
        for key, value in part.items():
            out[key] = value if key not in out else out[key] + value
    return out


def sum_partials(parts: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The :func:`add_partials` of a stream of partials, added as they come in a balanced tree.

    Adding each part to one running total costs the total's size at every step (a
    hexagon partial's groupby runs over all of it); here two sums are added only when
    they cover as many parts, as a binary counter carries, so that every part is added
    ``log2(n)`` times, and at most ``log2(n)`` sums are held at once.

    Examples
    --------
    >>> sum_partials({"a": k} for k in range(1, 6))["a"]
    15
    >>> sum_partials([])
    {}
    """
    stack: list[tuple[int, dict[str, Any]]] = []  # (parts covered, their sum), sizes falling
    for part in parts:
        size, total = 1, part
        while stack and stack[-1][0] == size:
            below, earlier = stack.pop()
            size, total = size + below, add_partials(earlier, total)
        stack.append((size, total))
    out: dict[str, Any] = {}
    for _, total in reversed(stack):  # the smallest sums first: earlier parts stay first
        out = add_partials(total, out)
    return out
