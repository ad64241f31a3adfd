"""What the risk layer, the priority areas and the draw read from the store.

One place loads the register, cases, inspections, exceedances and complaints of a
jurisdiction up to a day, in the columns :mod:`analytics.risk` takes; the layers, the
draw, the inspection plan and the backtest all score enterprises through
:func:`enterprise_scores`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import Engine

from analytics.risk import cell_risk, enterprise_risk
from analytics.risk_defaults import DEFAULT_RISK_WEIGHTS, DEFAULT_TIERS
from analytics.weights import cells_in_polygon
from geo_service.builds.inputs import Inputs
from geo_service.core.filters import Filters
from geo_service.store.queries import read_frame

#: Columns read per kind, and the name analytics.risk gives the date column. Records
#: count for the register entry they are linked to (``enterprise_credit_code``, read
#: as ``credit_code``), whatever code they state.
_COLUMNS = {
    "enterprises": ["credit_code", "name", "category", "industry_code", "lon", "lat"],
    "cases": [
        "enterprise_credit_code",
        "lon",
        "lat",
        "decision_date",
        "penalty_amount",
        "problem_type",
    ],
    "inspections": ["enterprise_credit_code", "lon", "lat", "inspection_date", "problem_found"],
    "exceedances": ["enterprise_credit_code", "lon", "lat", "monitor_date"],
    "complaints": ["enterprise_credit_code", "lon", "lat", "complaint_date"],
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
        frame = frame.rename(columns={"enterprise_credit_code": "credit_code"})
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
    return read_frame(engine, kind, Filters(), ["id"]).empty


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
