"""Records in scope and raw values of the risk components (see :mod:`analytics.risk`).

Private to :mod:`analytics.risk`: records of each table inside the window, each
placed at an enterprise (row, −1 for none) and a cell (its own point, else its
enterprise's; 0 for none), and the raw per-unit values computed from them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from analytics.cells import points_to_cells
from analytics.emerging import mann_kendall
from analytics.errors import RiskError
from analytics.hotspots import cell_hotspots

DAYS_PER_YEAR = 365.25


@dataclass(frozen=True)
class Records:
    """A table's rows in scope: enterprise row (−1: none), cell (0: none), date, the rows."""

    ent: NDArray[np.int64]
    cell: NDArray[np.int64]
    when: pd.DatetimeIndex
    rows: pd.DataFrame

    def within(self, start: pd.Timestamp) -> Records:
        keep = np.asarray(self.when >= start)
        return Records(self.ent[keep], self.cell[keep], self.when[keep], self.rows[keep])


@dataclass(frozen=True)
class RiskData:
    """Enterprises and their tables' records in scope, with the window ``[start, end)``."""

    ent: pd.DataFrame  # credit_code, category, h3 (0: no location), industry (None: unknown)
    cases: Records | None
    inspections: Records | None  # any date up to as_of
    exceedances: Records | None
    complaints: Records | None
    start: pd.Timestamp  # window, inclusive
    end: pd.Timestamp  # the day after as_of, exclusive
    window_years: int

    def inspections_in_window(self) -> Records | None:
        return None if self.inspections is None else self.inspections.within(self.start)


def need(frame: pd.DataFrame, columns: tuple[str, ...], name: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise RiskError(f"{name} lacks column(s) {', '.join(missing)}")


def point_cells(lon: Any, lat: Any, resolution: int) -> NDArray[np.int64]:
    """H3 cells of the points; 0 where a coordinate is missing or out of range."""
    x = pd.to_numeric(lon, errors="coerce").to_numpy(dtype=np.float64)
    y = pd.to_numeric(lat, errors="coerce").to_numpy(dtype=np.float64)
    ok = np.isfinite(x) & np.isfinite(y) & (np.abs(x) <= 180) & (np.abs(y) <= 90)
    out = np.zeros(x.size, dtype=np.int64)
    out[ok] = points_to_cells(x[ok], y[ok], resolution)
    return out


def enterprise_table(enterprises: pd.DataFrame, resolution: int) -> pd.DataFrame:
    need(enterprises, ("credit_code", "lon", "lat"), "enterprises")
    codes = enterprises["credit_code"]
    if codes.isna().any() or codes.duplicated().any():
        raise RiskError("enterprises need unique, non-missing credit codes")
    category = _text(enterprises, "category")
    return pd.DataFrame(
        {
            "credit_code": codes.to_numpy(),
            "h3": point_cells(enterprises["lon"], enterprises["lat"], resolution),
            "category": category.fillna("general").to_numpy(dtype=object),
            "industry": _text(enterprises, "industry_code").str.strip().to_numpy(dtype=object),
        }
    )


def _text(frame: pd.DataFrame, column: str) -> pd.Series:
    """An optional text column: missing or blank values as None."""
    values = frame.get(column, pd.Series(None, index=frame.index, dtype=object))
    return values.where(values.notna() & (values.astype(str).str.strip() != "")).astype(object)


def located_records(
    frame: pd.DataFrame | None,
    date_column: str,
    name: str,
    ent: pd.DataFrame,
    span: tuple[pd.Timestamp | None, pd.Timestamp],
    resolution: int,
) -> Records | None:
    """Rows dated in ``[start, end)``, located by their own point or else their enterprise's;
    None when there are none (the table's components then have no data)."""
    if frame is None or len(frame) == 0:
        return None
    need(frame, ("lon", "lat", date_column), name)
    when = pd.DatetimeIndex(pd.to_datetime(frame[date_column], errors="coerce"))
    keep = np.asarray(when.notna() & (when < span[1]))
    if span[0] is not None:
        keep &= np.asarray(when >= span[0])
    if not keep.any():
        return None
    rows = frame[keep]
    codes = rows["credit_code"] if "credit_code" in rows.columns else pd.Series(None, rows.index)
    at = pd.Index(ent["credit_code"]).get_indexer(codes.astype(object)).astype(np.int64)
    cell = point_cells(rows["lon"], rows["lat"], resolution)
    fallback = (cell == 0) & (at >= 0)
    cell[fallback] = ent["h3"].to_numpy()[at[fallback]]
    return Records(at, cell, when[keep], rows)


def prepare(
    enterprises: pd.DataFrame,
    tables: Mapping[str, pd.DataFrame | None],
    as_of: dt.date,
    resolution: int,
    window_years: int,
) -> RiskData:
    if int(window_years) != window_years or window_years < 1:
        raise RiskError(f"window_years must be a positive integer, got {window_years}")
    if not isinstance(as_of, dt.date):
        raise RiskError(f"as_of must be a date, got {type(as_of).__name__}")
    if not 0 <= resolution <= 15:
        raise RiskError(f"H3 resolution must be 0..15, got {resolution}")
    end = pd.Timestamp(as_of).normalize() + pd.Timedelta(days=1)
    start = end - pd.DateOffset(years=int(window_years))
    ent = enterprise_table(enterprises, resolution)
    if tables["cases"] is not None and len(tables["cases"]):
        need(tables["cases"], ("penalty_amount",), "cases")
    if tables["inspections"] is not None and len(tables["inspections"]):
        need(tables["inspections"], ("credit_code", "problem_found"), "inspections")

    def load(name: str, column: str, since: pd.Timestamp | None) -> Records | None:
        return located_records(tables[name], column, name, ent, (since, end), resolution)

    return RiskData(
        ent=ent,
        cases=load("cases", "decision_date", start),
        inspections=load("inspections", "inspection_date", None),
        exceedances=load("exceedances", "date", start),
        complaints=load("complaints", "date", start),
        start=start,
        end=end,
        window_years=int(window_years),
    )


def sum_at(pos: NDArray[np.int64], n: int, values: Any = None) -> NDArray[np.float64]:
    """Sum of ``values`` (or counts) by position; negative positions are skipped."""
    ok = pos >= 0
    w = None if values is None else np.asarray(values, dtype=np.float64)[ok]
    return np.bincount(pos[ok], weights=w, minlength=n).astype(np.float64)


def problem_heaviness(cases: Records) -> NDArray[np.float64]:
    """Each case's type heaviness (mean penalty of its type in the window); NaN: no type."""
    if "problem_type" not in cases.rows.columns:
        return np.full(len(cases.rows), np.nan)
    kind = pd.to_numeric(cases.rows["problem_type"], errors="coerce")
    kind = kind.where(kind >= 0)
    penalty = pd.to_numeric(cases.rows["penalty_amount"], errors="coerce")
    heaviness = penalty.groupby(kind).mean().fillna(0.0)
    return kind.map(heaviness).to_numpy(dtype=np.float64)


def penalties(cases: Records) -> NDArray[np.float64]:
    penalty = pd.to_numeric(cases.rows["penalty_amount"], errors="coerce").to_numpy(np.float64)
    return np.nan_to_num(penalty, nan=0.0).clip(min=0.0)


def yearly_trend(data: RiskData, pos: NDArray[np.int64], n: int) -> NDArray[np.float64]:
    """Positive Mann–Kendall z of each cell's yearly case counts over the window."""
    years = data.window_years
    if data.cases is None or years < 2:
        return np.zeros(n)
    edges = pd.DatetimeIndex([data.start + pd.DateOffset(years=y) for y in range(years)])
    step = np.clip(edges.searchsorted(data.cases.when, side="right") - 1, 0, years - 1)
    ok = pos >= 0
    counts = np.bincount(pos[ok] * years + step[ok], minlength=n * years).reshape(n, years)
    return np.asarray(mann_kendall(counts.astype(np.float64)).z).clip(min=0.0)


def cell_signals(
    data: RiskData, cells: NDArray[np.int64], area_cells: ArrayLike | None
) -> dict[str, NDArray[np.float64]]:
    """Raw case density, hotspot and trend of each of ``cells``."""
    n = cells.size
    index = pd.Index(cells)
    case_pos = (
        index.get_indexer(pd.Index(data.cases.cell)) if data.cases is not None else np.empty(0, int)
    )
    counts = sum_at(case_pos, n)
    extra = np.empty(0, np.int64) if area_cells is None else np.asarray(area_cells, np.int64)
    gi_cells = np.union1d(cells, extra)
    gi_counts = np.zeros(gi_cells.size)
    gi_counts[np.searchsorted(gi_cells, cells)] = counts
    gi = cell_hotspots(gi_cells, gi_counts, k=1) if n else pd.DataFrame({"gi_z": []})
    z = gi["gi_z"].to_numpy()[np.searchsorted(gi_cells, cells)] if n else np.zeros(0)
    return {
        "case_density": counts,
        "hotspot": z.clip(min=0.0),
        "trend": yearly_trend(data, case_pos.astype(np.int64), n),
    }


def problems_found(inspections: Records) -> NDArray[np.bool_]:
    """Whether each inspection found a problem."""
    return inspections.rows["problem_found"].eq(True).to_numpy(dtype=bool)


def unit_values(data: RiskData, pos: dict[str, NDArray[np.int64]], n: int) -> dict[str, Any]:
    """Record-based raw values per unit; ``pos`` maps each table to its rows' unit positions
    (``inspections``: those of the window)."""
    out: dict[str, Any] = {}
    inspections = data.inspections_in_window()
    if inspections is not None:
        out["problems_found"] = sum_at(
            np.where(problems_found(inspections), pos["inspections"], -1), n
        )
    if data.cases is not None:
        out["severity"] = sum_at(pos["cases"], n, penalties(data.cases))
        heaviness = problem_heaviness(data.cases)
        typed = np.where(np.isnan(heaviness), -1, pos["cases"])
        total = sum_at(typed, n, np.nan_to_num(heaviness))
        out["problem_mix"] = np.divide(total, sum_at(typed, n), out=np.zeros(n), where=total > 0)
    for name in ("exceedances", "complaints"):
        if getattr(data, name) is not None:
            out[name] = sum_at(pos[name], n)
    return out


def enterprise_raw(data: RiskData) -> dict[str, NDArray[np.float64]]:
    """Raw values of the record-based components, per enterprise."""
    n = len(data.ent)
    tables = ("cases", "exceedances", "complaints")
    pos = {t: getattr(data, t).ent for t in tables if getattr(data, t) is not None}
    inspections = data.inspections_in_window()
    if inspections is not None:
        pos["inspections"] = inspections.ent
    raw = unit_values(data, pos, n)
    cases = sum_at(data.cases.ent, n) if data.cases is not None else np.zeros(n)
    raw["repeat_offending"] = np.where(cases >= 2, cases, 0.0)
    raw["industry_rate"] = industry_rate(data.ent["industry"], cases)
    raw["inspection_gap"] = inspection_gap(data)
    return raw


def industry_rate(industry: pd.Series, cases: NDArray[np.float64]) -> NDArray[np.float64]:
    """Cases per enterprise of the *other* enterprises of each one's industry (same code);
    0 without a code or without another enterprise of the code.

    >>> codes = pd.Series(["C26", "C26", "C26", None])
    >>> industry_rate(codes, np.array([3.0, 1.0, 0.0, 5.0])).tolist()
    [0.5, 1.5, 2.0, 0.0]
    """
    group, _ = pd.factorize(industry, use_na_sentinel=True)
    known = group >= 0
    totals = np.bincount(group[known], weights=cases[known])
    peers = np.bincount(group[known]) - 1.0
    out = np.zeros(cases.size)
    at = group[known]
    out[known] = np.divide(
        totals[at] - cases[known], peers[at], out=np.zeros(at.size), where=peers[at] > 0
    )
    return out


def inspection_gap(data: RiskData) -> NDArray[np.float64]:
    n = len(data.ent)
    if data.inspections is None:
        return np.zeros(n)
    insp = data.inspections
    begin = min(insp.when.min(), data.start)
    last = pd.Series(insp.when).groupby(insp.ent).max().drop(index=-1, errors="ignore")
    gap = np.full(n, (data.end - begin) / pd.Timedelta(days=DAYS_PER_YEAR))
    gap[last.index.to_numpy()] = (data.end - last).dt.days.to_numpy() / DAYS_PER_YEAR
    recent = sum_at(insp.within(data.start).ent, n)
    return gap / (1.0 + recent)


def all_cells(data: RiskData) -> NDArray[np.int64]:
    """Cells with enterprises or with records in the window (sorted, no 0)."""
    parts = [data.ent["h3"].to_numpy(dtype=np.int64)]
    for records in (data.cases, data.inspections_in_window(), data.exceedances, data.complaints):
        if records is not None:
            parts.append(records.cell)
    cells = np.unique(np.concatenate(parts))
    return cells[cells != 0]
