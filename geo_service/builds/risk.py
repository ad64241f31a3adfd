"""The ``risk`` and ``priority-areas`` layers: risk scores of the store's records on the map.

``risk`` is one hexagon per H3 cell (:func:`analytics.risk.cell_risk`) or, with
``unit=enterprise``, one point per register enterprise
(:func:`analytics.risk.enterprise_risk`); ``priority-areas`` are the high-risk cells
merged into ranked areas (:func:`analytics.priority.priority_areas`).

Both score the records of the filtered jurisdiction (and industry) dated up to
``as_of``: the parameter when given, else the filters' last day (``end``/``period``),
else the latest dated record in the store (cases, inspections, exceedances,
complaints), else today. The weights and tier quantiles are settings
(``GEO_RISK_WEIGHTS``, ``GEO_RISK_TIERS``) entered as the layers' parameters, so a
change of settings makes new builds and the provenance says which were used.

Public view (anonymous callers, province level): the enterprise points are refused,
``top_enterprises`` is left out, and where a cell or area holds fewer than the public
minimum of enterprises the columns that would describe them (expected findings,
repeat offending, penalties, inspection gap) are withheld, as counts of cases,
exceedances and complaints below it are.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from sqlalchemy import Engine, func, select

from analytics.cells import cells_to_polygons, cells_to_strings
from analytics.priority import priority_areas
from geo_service.builds.inputs import Inputs
from geo_service.builds.parameters import (
    AS_OF,
    LayerParameters,
    PriorityAreaParameters,
    RiskParameters,
)
from geo_service.builds.risk_inputs import (
    RiskRecords,
    cell_scores,
    enterprise_scores,
    last_inspections,
    read_risk_records,
)
from geo_service.core.clock import china_today
from geo_service.core.errors import BadFilterError
from geo_service.core.settings import Settings
from geo_service.store.models import INGEST_TABLES
from layers.labels import REASON_LABELS_ZH

#: The layers this module makes.
RISK_LAYERS = ("risk", "priority-areas")


#: Dated tables and their date column (the default ``as_of`` is the latest of them).
_DATED = {
    "cases": "decision_date",
    "inspections": "inspection_date",
    "exceedances": "monitor_date",
    "complaints": "complaint_date",
}


def configured(parameters: LayerParameters, settings: Settings | None) -> LayerParameters:
    """The parameters with the risk weights and tier quantiles of ``settings`` (the
    analytics defaults without settings); other layers' parameters as they are."""
    if settings is None:
        return parameters
    return parameters.with_settings(settings.risk_weights, tuple(settings.risk_tier_quantiles))


def names_enterprises(layer: str, parameters: LayerParameters | Mapping[str, Any] | None) -> bool:
    """Whether the layer as asked names enterprises (audited, cached privately)."""
    return layer == "priority-areas" or is_point_layer(layer, parameters)


def is_point_layer(layer: str, parameters: LayerParameters | Mapping[str, Any] | None) -> bool:
    """Whether the layer as asked (typed, or as the JSON of what was asked) is point
    records, one per enterprise: accounts only."""
    if isinstance(parameters, Mapping):
        unit = parameters.get("unit")
    else:
        unit = getattr(parameters, "unit", None)
    return layer == "risk" and unit == "enterprise"


def latest_record_date(engine: Engine) -> dt.date | None:
    """The latest date of any dated record in the store (None when there is none)."""
    latest: list[dt.date] = []
    with engine.connect() as conn:
        for kind, column in _DATED.items():
            table = INGEST_TABLES[kind].__table__
            value = conn.execute(select(func.max(table.c[column]))).scalar()
            if value is not None:
                latest.append(pd.Timestamp(value).date())
    return max(latest) if latest else None


def risk_as_of(inputs: Inputs, parameters: RiskParameters | PriorityAreaParameters) -> dt.date:
    """The day risk is scored at: the parameter, the filters' last day, the latest record
    in the store, or today (in that order)."""
    if parameters.as_of is not None:
        return parameters.as_of
    _, end = inputs.filters.date_range()
    if end is not None and not AS_OF.low <= end <= AS_OF.high:  # as the parameter's bound
        raise BadFilterError(
            f"risk is scored at a day within {AS_OF.text()}; the filters end {end}"
        )
    return end or latest_record_date(inputs.engine) or china_today()


def _records(inputs: Inputs, parameters: RiskParameters | PriorityAreaParameters) -> RiskRecords:
    filters = inputs.filters
    as_of = risk_as_of(inputs, parameters)
    return read_risk_records(inputs.engine, filters.jurisdiction, as_of, filters.industry)


def _options(inputs: Inputs, parameters: RiskParameters | PriorityAreaParameters) -> dict[str, Any]:
    tiers = parameters.tiers
    return {
        "jurisdiction": inputs.filters.jurisdiction,
        "resolution": parameters.resolution,
        "window_years": parameters.window_years,
        "weights": dict(parameters.weights),
        "tiers": (float(tiers[0]), float(tiers[1])),
    }


def reasons_text(reasons: Any) -> tuple[str, str]:
    """Reasons as JSON text (component names) and as Chinese labels joined by 、.

    >>> reasons_text(["severity", "hotspot"])
    ('["severity", "hotspot"]', '处罚金额、热点')
    """
    names = [str(r) for r in (reasons if isinstance(reasons, list | tuple | np.ndarray) else [])]
    return json.dumps(names), "、".join(REASON_LABELS_ZH.get(n, n) for n in names)


def _with_reasons(table: pd.DataFrame) -> pd.DataFrame:
    texts = [reasons_text(r) for r in table["reasons"]]
    at = list(table.columns).index("reasons")
    table = table.drop(columns="reasons")
    table.insert(at, "reasons", [t[0] for t in texts])
    table.insert(at + 1, "reasons_zh", [t[1] for t in texts])
    return table


def _ordered(table: pd.DataFrame, first: list[str]) -> pd.DataFrame:
    components = [c for c in table.columns if c.startswith(("v_", "c_"))]
    rest = [c for c in table.columns if c not in first and c not in components]
    return table[[*first, *rest, *components]]


def _cell_layer(cells: pd.DataFrame, resolution: int) -> gpd.GeoDataFrame:
    ids = cells["h3"].to_numpy(np.int64)
    table = _with_reasons(cells.drop(columns="h3"))
    table.insert(0, "h3", cells_to_strings(ids))
    table.insert(1, "resolution", resolution)
    first = [
        "h3",
        "resolution",
        "score",
        "tier",
        "enterprises",
        "expected_findings",
        "reasons",
        "reasons_zh",
    ]
    return gpd.GeoDataFrame(
        _ordered(table, first), geometry=cells_to_polygons(ids), crs="EPSG:4326"
    )


def _enterprise_layer(records: RiskRecords, scores: pd.DataFrame) -> gpd.GeoDataFrame:
    ents = records.enterprises
    table = _with_reasons(scores.drop(columns="h3"))
    located = scores["h3"].to_numpy(np.int64)
    table.insert(
        4,
        "cell",
        [s if c else None for s, c in zip(cells_to_strings(located), located, strict=True)],
    )
    last = last_inspections(records).to_numpy()
    table["last_inspected"] = pd.Series(last).dt.strftime("%Y-%m-%d").to_numpy(object)
    first = [
        "credit_code",
        "name",
        "category",
        "industry_code",
        "cell",
        "score",
        "tier",
        "expected_findings",
        "last_inspected",
        "reasons",
        "reasons_zh",
    ]
    points = gpd.points_from_xy(ents["lon"].to_numpy(float), ents["lat"].to_numpy(float))
    return gpd.GeoDataFrame(_ordered(table, first), geometry=points, crs="EPSG:4326")


def risk_layer(inputs: Inputs, parameters: RiskParameters) -> gpd.GeoDataFrame:
    """``risk``: risk per H3 cell (hexagons), or per enterprise (points) with
    ``unit="enterprise"``; ``attrs["parameters"]`` records weights, components and tiers."""
    records = _records(inputs, parameters)
    options = _options(inputs, parameters)
    if parameters.unit == "enterprise":
        scores = enterprise_scores(inputs.engine, records, **options)
        frame = _enterprise_layer(records, scores)
    else:
        scores = cell_scores(inputs.engine, records, **options)
        frame = _cell_layer(scores, options["resolution"])
    frame.attrs["parameters"] = {**parameters.as_dict(), **scores.attrs["parameters"]}
    return frame


def priority_areas_layer(inputs: Inputs, parameters: PriorityAreaParameters) -> gpd.GeoDataFrame:
    """``priority-areas``: the high-risk cells merged into ranked areas, with their
    riskiest enterprises (credit codes and names, JSON text)."""
    records = _records(inputs, parameters)
    options = _options(inputs, parameters)
    cells = cell_scores(inputs.engine, records, **options)
    ents = enterprise_scores(inputs.engine, records, **options)
    areas = priority_areas(cells, ents, min_cells=parameters.min_cells)
    names = dict(zip(ents["credit_code"], ents["name"].fillna(""), strict=True))
    top = [
        json.dumps(
            [{"credit_code": c, "name": str(names.get(c, ""))} for c in codes], ensure_ascii=False
        )
        for codes in areas["top_enterprises"]
    ]
    areas = _with_reasons(areas.assign(top_enterprises=top))
    for column in ("area_id", "rank", "cells", "enterprises"):
        areas[column] = areas[column].astype(np.int64)
    for column in ("score", "expected_findings"):
        areas[column] = areas[column].astype(np.float64)
    frame = gpd.GeoDataFrame(areas, geometry="geometry", crs="EPSG:4326")
    frame.attrs["parameters"] = {
        **parameters.as_dict(),
        **cells.attrs["parameters"],
        "area_tiers": ["high"],
    }
    return frame
