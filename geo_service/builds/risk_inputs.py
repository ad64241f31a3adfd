"""What the risk layer, the priority areas and the draw read from the store.

One place loads the register, cases, inspections, exceedances and complaints of a
jurisdiction up to a day, in the columns :mod:`analytics.risk` takes; the layers, the
draw and the backtest all score enterprises through :func:`enterprise_scores`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy import Engine

from analytics.cells import cells_to_polygons
from analytics.priority import inspection_plan, priority_areas
from analytics.risk import DEFAULT_RISK_WEIGHTS, DEFAULT_TIERS, cell_risk, enterprise_risk
from analytics.weights import cells_in_polygon
from geo_service.builds.inputs import Inputs
from geo_service.core.errors import BadFilterError
from geo_service.core.filters import Filters
from geo_service.store.queries import read_frame

#: Columns read per kind, and the name analytics.risk gives the date column.
_COLUMNS = {
    "enterprises": ["credit_code", "name", "category", "industry_code", "lon", "lat"],
    "cases": ["credit_code", "lon", "lat", "decision_date", "penalty_amount", "problem_type"],
    "inspections": ["credit_code", "lon", "lat", "inspection_date", "problem_found"],
    "exceedances": ["credit_code", "lon", "lat", "monitor_date"],
    "complaints": ["credit_code", "lon", "lat", "complaint_date"],
}
_DATES = {
    "cases": "decision_date",
    "inspections": "inspection_date",
    "exceedances": "monitor_date",
    "complaints": "complaint_date",
}


@dataclass(frozen=True)
class RiskRecords:
    """The records risk is scored from: a jurisdiction's, dated up to ``as_of``."""

    as_of: dt.date
    enterprises: pd.DataFrame
    cases: pd.DataFrame
    inspections: pd.DataFrame
    exceedances: pd.DataFrame | None
    complaints: pd.DataFrame | None

    def tables(self) -> dict[str, pd.DataFrame | None]:
        return {
            "cases": self.cases,
            "inspections": self.inspections,
            "exceedances": self.exceedances,
            "complaints": self.complaints,
        }


def read_risk_records(
    engine: Engine, jurisdiction: str | None, as_of: dt.date, industry: str | None = None
) -> RiskRecords:
    """The register and the dated records of ``jurisdiction`` up to ``as_of`` (inclusive).

    Exceedances and complaints are None when the store holds none at all (their
    components then drop out of the score rather than count as zero everywhere).
    """
    filters = Filters(jurisdiction=jurisdiction, industry=industry)
    dated = Filters(jurisdiction=jurisdiction, industry=industry, end=as_of)
    frames: dict[str, pd.DataFrame] = {}
    for kind, columns in _COLUMNS.items():
        frame = read_frame(engine, kind, filters if kind == "enterprises" else dated, columns)
        if kind in _DATES:
            frame[_DATES[kind]] = pd.to_datetime(frame[_DATES[kind]])
        if kind in ("exceedances", "complaints"):
            frame = frame.rename(columns={_DATES[kind]: "date"})
        frames[kind] = frame
    frames["cases"]["penalty_amount"] = frames["cases"]["penalty_amount"].astype(float)
    frames["inspections"]["problem_found"] = (
        frames["inspections"]["problem_found"].astype("boolean").fillna(False).astype(bool)
    )
    located = frames["enterprises"].dropna(subset=["lon", "lat"]).reset_index(drop=True)
    return RiskRecords(
        as_of=as_of,
        enterprises=located,
        cases=frames["cases"],
        inspections=frames["inspections"],
        exceedances=None if _none_stored(engine, "exceedances") else frames["exceedances"],
        complaints=None if _none_stored(engine, "complaints") else frames["complaints"],
    )


def _none_stored(engine: Engine, kind: str) -> bool:
    return read_frame(engine, kind, Filters(), ["credit_code"]).empty


def enterprise_scores(
    engine: Engine,
    records: RiskRecords,
    *,
    jurisdiction: str | None,
    resolution: int = 7,
    window_years: int = 3,
    weights: Mapping[str, float] = DEFAULT_RISK_WEIGHTS,
    tiers: tuple[float, float] = DEFAULT_TIERS,
) -> pd.DataFrame:
    """:func:`analytics.risk.enterprise_risk` of ``records``, with each enterprise's
    ``name`` and ``industry_code`` beside its score (the draw record names them)."""
    area = Inputs(engine, Filters(jurisdiction=jurisdiction)).area
    scores = enterprise_risk(
        records.enterprises,
        **records.tables(),
        as_of=records.as_of,
        resolution=resolution,
        window_years=window_years,
        weights=weights,
        tiers=tiers,
        area_cells=cells_in_polygon(area, resolution),
    )
    scores.insert(1, "name", records.enterprises["name"].to_numpy())
    scores.insert(2, "industry_code", records.enterprises["industry_code"].to_numpy())
    return scores


def cell_scores(
    engine: Engine,
    records: RiskRecords,
    *,
    jurisdiction: str | None,
    resolution: int = 7,
    window_years: int = 3,
    weights: Mapping[str, float] = DEFAULT_RISK_WEIGHTS,
    tiers: tuple[float, float] = DEFAULT_TIERS,
) -> pd.DataFrame:
    """:func:`analytics.risk.cell_risk` of ``records`` over the jurisdiction's cells."""
    area = Inputs(engine, Filters(jurisdiction=jurisdiction)).area
    return cell_risk(
        records.enterprises,
        **records.tables(),
        as_of=records.as_of,
        resolution=resolution,
        window_years=window_years,
        weights=weights,
        tiers=tiers,
        area_cells=cells_in_polygon(area, resolution),
    )


def last_inspections(records: RiskRecords) -> pd.Series:
    """Each enterprise's latest inspection date up to ``as_of`` (NaT if never), by credit code."""
    dates = records.inspections.groupby("credit_code")["inspection_date"].max()
    return dates.reindex(records.enterprises["credit_code"]).rename("last_inspected")


def days_per_enterprise_of(text: str | None) -> float | dict[str, float]:
    """``"1.5"`` (every enterprise) or ``"key=1.5,special=1,general=0.5"`` (by category).

    >>> days_per_enterprise_of("key=1.5,special=1,general=0.5")
    {'key': 1.5, 'special': 1.0, 'general': 0.5}
    >>> days_per_enterprise_of(None)
    1.0
    """
    if text is None or not text.strip():
        return 1.0
    try:
        if "=" not in text:
            return _positive_days(float(text))
        pairs = (part.split("=", 1) for part in text.replace("，", ",").split(",") if part.strip())
        return {k.strip(): _positive_days(float(v)) for k, v in pairs}
    except ValueError:
        raise BadFilterError(
            f"days per enterprise {text!r}: a number, or category=days pairs like "
            "key=1.5,special=1,general=0.5 (each > 0)"
        ) from None


def _positive_days(days: float) -> float:
    if not (np.isfinite(days) and 0 < days <= 365):
        raise ValueError(days)
    return days


@dataclass(frozen=True)
class PlanRequest:
    """What an inspection plan is asked for (the weights and tiers come from the settings)."""

    jurisdiction: str | None
    inspector_days: float
    days_per_enterprise: float | Mapping[str, float] = 1.0
    as_of: dt.date | None = None
    industry: str | None = None
    resolution: int = 7
    window_years: int = 3
    areas_only: bool = True
    weights: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_RISK_WEIGHTS))
    tiers: tuple[float, float] = DEFAULT_TIERS


def plan_inspections(
    engine: Engine, asked: PlanRequest, default_as_of: dt.date
) -> tuple[pd.DataFrame, gpd.GeoDataFrame]:
    """The enterprises :func:`analytics.priority.inspection_plan` picks for ``asked`` and the
    priority areas (within which the candidates lie unless ``areas_only`` is off).

    The plan's ``attrs["summary"]`` and ``attrs["parameters"]`` say how it was made.
    """
    as_of = asked.as_of or default_as_of
    records = read_risk_records(engine, asked.jurisdiction, as_of, asked.industry)
    options: dict[str, Any] = {
        "jurisdiction": asked.jurisdiction,
        "resolution": asked.resolution,
        "window_years": asked.window_years,
        "weights": asked.weights,
        "tiers": asked.tiers,
    }
    ents = enterprise_scores(engine, records, **options)
    areas = priority_areas(cell_scores(engine, records, **options), ents)
    ents["lon"] = records.enterprises["lon"].to_numpy(float)
    ents["lat"] = records.enterprises["lat"].to_numpy(float)
    ents["last_inspected"] = last_inspections(records).to_numpy()
    plan = inspection_plan(
        ents,
        inspector_days=asked.inspector_days,
        days_per_enterprise=dict(asked.days_per_enterprise)
        if isinstance(asked.days_per_enterprise, Mapping)
        else asked.days_per_enterprise,
        areas=areas if asked.areas_only else None,
    )
    if not asked.areas_only:  # still say which area each one is in
        plan = plan.assign(area_id=_area_of(plan, areas))
    plan.attrs["parameters"] = {**ents.attrs["parameters"], "areas_only": asked.areas_only}
    return plan, areas


def _area_of(plan: pd.DataFrame, areas: gpd.GeoDataFrame) -> np.ndarray:
    """``area_id`` of the area holding each planned enterprise's cell centre (as
    :func:`analytics.priority.inspection_plan` places them); −1 outside all."""
    found = np.full(len(plan), -1, dtype=np.int64)
    cells = plan["h3"].to_numpy(np.int64)
    located = np.flatnonzero(cells != 0)
    if not located.size or areas.empty:
        return found
    centres = shapely.centroid(cells_to_polygons(cells[located]))
    x, y = shapely.get_x(centres), shapely.get_y(centres)
    for area_id, geometry in zip(areas["area_id"], areas.geometry, strict=True):
        inside = shapely.contains_xy(geometry, x, y) & (found[located] < 0)
        found[located[inside]] = int(area_id)
    return found
