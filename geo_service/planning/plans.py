"""The inspection plan: which enterprises and priority areas inspectors visit within given days.

:func:`plan_inspections` scores the jurisdiction's enterprises and cells as the ``risk``
and ``priority-areas`` layers do (:mod:`geo_service.builds.risk_inputs`) and lets
:func:`analytics.priority.inspection_plan` spend the inspector-days on the riskiest;
:func:`plan_document` and :func:`write_plan` give the result as JSON or a workbook.
It is planning work (deciding where inspectors go, beside the draw), not a map layer,
so it lives here and reads the builds room rather than sitting in it.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy import Engine

from analytics.cells import cells_to_polygons
from analytics.priority import inspection_plan, priority_areas
from analytics.risk_defaults import DEFAULT_RISK_WEIGHTS, DEFAULT_TIERS
from geo_service.builds.risk import reasons_text
from geo_service.builds.risk_inputs import (
    cell_scores,
    enterprise_scores,
    last_inspections,
    read_risk_records,
)
from geo_service.core.errors import BadFilterError
from layers.errors import UnsupportedFormatError
from layers.files import write_tables_xlsx


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


def _plain(value: Any) -> Any:
    """A JSON-ready scalar: numpy numbers as Python ones, NaN/NaT as None, dates as text."""
    if value is None or (not isinstance(value, str | list | dict) and pd.isna(value)):
        return None
    if isinstance(value, pd.Timestamp | dt.date):
        return value.isoformat()[:10]
    return value.item() if isinstance(value, np.generic) else value


def _planned_enterprises(plan: pd.DataFrame) -> list[dict[str, Any]]:
    rows = []
    for row in plan.to_dict(orient="records"):
        reasons, reasons_zh = reasons_text(row.get("reasons"))
        area = int(row.get("area_id", -1))
        rows.append(
            {
                "credit_code": row["credit_code"],
                "name": _plain(row.get("name")),
                "category": _plain(row.get("category")),
                "industry_code": _plain(row.get("industry_code")),
                "area_id": area if area > 0 else None,
                "days": float(row["days"]),
                "expected_findings": float(row["expected_findings"]),
                "score": float(row["score"]),
                "tier": row["tier"],
                "reasons": json.loads(reasons),
                "reasons_zh": reasons_zh,
                "last_inspected": _plain(row.get("last_inspected")),
                "lon": _plain(row.get("lon")),
                "lat": _plain(row.get("lat")),
            }
        )
    return rows


def _chosen_areas(plan: pd.DataFrame, areas: gpd.GeoDataFrame) -> list[dict[str, Any]]:
    """The priority areas holding planned enterprises, with what the plan does there."""
    if "area_id" not in plan or areas.empty:
        return []
    planned = plan[plan["area_id"] > 0].groupby("area_id")
    counts, days = planned.size(), planned["days"].sum()
    found = planned["expected_findings"].sum()
    rows = []
    for area in areas.to_dict(orient="records"):
        area_id = int(area["area_id"])
        if area_id not in counts.index:
            continue
        reasons, reasons_zh = reasons_text(area["reasons"])
        rows.append(
            {
                "area_id": area_id,
                "rank": int(area["rank"]),
                "cells": int(area["cells"]),
                "score": float(area["score"]),
                "expected_findings": float(area["expected_findings"]),
                "reasons": json.loads(reasons),
                "reasons_zh": reasons_zh,
                "enterprises": int(area["enterprises"]),
                "planned_enterprises": int(counts[area_id]),
                "planned_days": float(days[area_id]),
                "planned_expected_findings": float(found[area_id]),
            }
        )
    return rows


def plan_document(
    plan: pd.DataFrame, areas: gpd.GeoDataFrame, *, jurisdiction: str | None, data_version: int
) -> dict[str, Any]:
    """An inspection plan as JSON: summary (days used, expected findings covered and their
    share), the chosen areas and the enterprises, and how it was made."""
    summary = plan.attrs["summary"]
    parameters = plan.attrs.get("parameters", {})
    return {
        "jurisdiction": jurisdiction,
        "as_of": parameters.get("as_of"),
        **{k: _plain(v) for k, v in summary.items() if k != "enterprises"},
        "planned_enterprises": int(summary["enterprises"]),
        "areas": _chosen_areas(plan, areas),
        "enterprises": _planned_enterprises(plan),
        "parameters": parameters,
        "data_version": data_version,
    }


def write_plan(doc: dict[str, Any], out: Path) -> Path:
    """Write a plan document as JSON (``.json``) or a workbook (``.xlsx``: sheets
    ``enterprises``, ``areas`` and ``summary``)."""
    if out.suffix.lower() == ".json":
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(doc, ensure_ascii=False, indent=1, default=str), "utf-8")
        return out
    if out.suffix.lower() != ".xlsx":
        raise UnsupportedFormatError(f"plan files are .json or .xlsx, not {out.name!r}")
    summary = {k: v for k, v in doc.items() if k not in ("areas", "enterprises")}
    sheets = {
        "enterprises": pd.DataFrame(doc["enterprises"]),
        "areas": pd.DataFrame(doc["areas"]),
        "summary": pd.DataFrame({"key": list(summary), "value": list(summary.values())}),
    }
    return write_tables_xlsx(sheets, out)
