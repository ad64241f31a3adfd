"""What a briefing says, gathered from where the service already answers it: the headline
figures from the ledgers (:func:`geo_service.api.stats.ledger_table`), the maps and the
changes from the stored layers (:func:`geo_service.builds.run.analytic_layer`), the
priority areas and the latest draw, and the data-quality report. Each figure keeps the
request that answers it (:class:`layers.briefing.content.Source`)."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import pandas as pd
from sqlalchemy import Engine

from analytics.density import DensitySurface
from analytics.errors import AnalyticsError
from geo_service.api.stats import ledger_table
from geo_service.builds.run import analytic_layer
from geo_service.core.clock import china_now
from geo_service.core.errors import BadFilterError, NotFoundError
from geo_service.core.filters import Filters
from geo_service.core.settings import Settings
from geo_service.store.boundaries import read_divisions
from geo_service.store.draws import jurisdiction_prefix, list_draws
from geo_service.store.quality import jurisdiction_quality
from geo_service.store.queries import data_version
from layers.briefing.changes import cells_to_places, hotspot_changes
from layers.briefing.content import (
    Brief,
    CommonType,
    DrawState,
    Figure,
    MapInputs,
    PlaceDifference,
    PriorityArea,
    ProblemTypeRow,
    QualityNote,
    Source,
)
from layers.briefing.periods import BriefPeriod
from layers.errors import LayerError
from layers.rasters import geotiff_to_surface

#: The headline figures: ledger, column, label, unit.
FIGURES = (
    ("cases", "cases", "行政处罚案件数", "件"),
    ("cases", "penalty_sum", "罚款金额合计", "元"),
    ("cases", "executed", "已执行案件数", "件"),
    ("cases", "execution_rate", "执行率", "%"),
    ("inspections", "inspections", "现场检查次数", "次"),
    ("inspections", "problems_found", "发现问题次数", "次"),
    ("inspections", "problem_rate", "发现问题比例", "%"),
)
#: The ledgers' grouping the figures are read from: one row, the period's year.
FIGURE_GROUP = "year"
TOP_PROBLEM_TYPES = 6
TOP_PRIORITY_AREAS = 5
UNTYPED = ("", "未发现问题")
_KIND_ZH = {"cases": "行政处罚案件", "inspections": "现场检查"}


@dataclass(frozen=True)
class BriefRequest:
    """A briefing asked for: a jurisdiction's adcode and a period, both checked."""

    jurisdiction: str
    period: BriefPeriod

    @classmethod
    def parse(cls, jurisdiction: str, period: str) -> BriefRequest:
        """Checked here, in Chinese and English (a 400 over HTTP)."""
        if not (len(jurisdiction) == 6 and jurisdiction.isascii() and jurisdiction.isdigit()):
            raise BadFilterError(
                f"行政区划代码 {jurisdiction!r} 无效：须为 6 位数字; "
                f"jurisdiction {jurisdiction!r} is not a 6-digit adcode"
            )
        return cls(jurisdiction, BriefPeriod.parse(period))

    def filters(self, period: BriefPeriod | None = None) -> Filters:
        return Filters(jurisdiction=self.jurisdiction, period=str(period or self.period))


def _query(filters: Filters, **extra: str) -> tuple[tuple[str, str], ...]:
    return (*extra.items(), *((k, str(v)) for k, v in filters.as_dict().items()))


def _ledger_row(engine: Engine, kind: str, filters: Filters) -> dict[str, Any]:
    """The ledger's one row for the period (empty when it holds no records)."""
    table = ledger_table(engine, kind, FIGURE_GROUP, filters)
    rows: list[dict[str, Any]] = json.loads(table.to_json(orient="records", force_ascii=False))
    return rows[0] if rows else {}


def _figures(engine: Engine, request: BriefRequest) -> tuple[Figure, ...]:
    periods = (request.period, request.period.previous(), request.period.year_before())
    rows = {
        (kind, str(p)): _ledger_row(engine, kind, request.filters(p))
        for kind in _KIND_ZH
        for p in periods
    }
    figures = []
    for kind, column, label, unit in FIGURES:
        values = [rows[(kind, str(p))].get(column) for p in periods]
        if unit != "%":  # a count or sum of no records is 0; a rate of none is undefined
            values = [0 if v is None else v for v in values]
        now, before, year_ago = (
            Source(f"/stats/{kind}", _query(request.filters(p), group_by=FIGURE_GROUP))
            for p in periods
        )
        figures.append(
            Figure(column, label, unit, values[0], values[1], values[2], now, before, year_ago)
        )
    return tuple(figures)


def _places(engine: Engine, jurisdiction: str) -> tuple[str, gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """The division's name, its outline and the divisions one level below it (itself for
    a county), named."""
    table = read_divisions(engine).table
    if jurisdiction not in table.index:
        raise NotFoundError(
            f"行政区划 {jurisdiction} 未载入; jurisdiction {jurisdiction} is not a loaded division"
        )
    own = table.loc[[jurisdiction]]
    children = table[table["parent_adcode"] == jurisdiction]
    places = children if len(children) else own
    return str(own["name"].iloc[0]), own[["name", "geometry"]], places[["name", "geometry"]]


def _layer(
    engine: Engine, layer: str, filters: Filters, params: dict[str, Any], settings: Settings | None
) -> tuple[gpd.GeoDataFrame | bytes | None, dict[str, Any]]:
    """A stored layer's frame (or GeoTIFF bytes) and parameters; None when the data cannot
    give it (too few records for the analysis, no case placed at a point for a density):
    the briefing says so rather than failing. The filters were checked before."""
    try:
        stored = analytic_layer(engine, layer, filters, params, settings)
    except (AnalyticsError, LayerError, BadFilterError) as error:
        return None, {"unavailable": str(error)}
    if stored.media_type.startswith("image/tiff"):
        return stored.payload, stored.parameters
    return stored.frame(), stored.parameters


def _layer_source(layer: str, filters: Filters, **params: str) -> Source:
    return Source(f"/collections/{layer}/items", _query(filters, **params, limit="10000"))


def _problem_types(engine: Engine, request: BriefRequest) -> tuple[ProblemTypeRow, ...]:
    counts = []
    for period in (request.period, request.period.previous()):
        table = ledger_table(engine, "cases", "problem_type", request.filters(period))
        typed = table[~table["problem_type"].isin(UNTYPED)]
        counts.append(dict(zip(typed["problem_type"], typed["cases"].astype(int), strict=True)))
    now, before = counts
    leading = sorted(now, key=lambda label: (-now[label], label))[:TOP_PROBLEM_TYPES]
    return tuple(ProblemTypeRow(label, now[label], before.get(label, 0)) for label in leading)


def _commonalities(
    frame: gpd.GeoDataFrame | None, parameters: dict[str, Any]
) -> tuple[tuple[CommonType, ...], tuple[PlaceDifference, ...]]:
    if not isinstance(frame, gpd.GeoDataFrame):
        return (), ()
    common = tuple(
        CommonType(str(c["label"]), float(c["share"]), float(c["share_min"]), float(c["share_max"]))
        for c in parameters.get("common", [])
    )
    places = frame.sort_values(["records", "name"], ascending=[False, True])
    differences = tuple(
        PlaceDifference(
            str(row.name),
            int(row.records),
            row.status == "tested",
            str(row.dominant_label or ""),
            str(row.distinctive_zh or "—"),
        )
        for row in places.itertuples()
    )
    return common, differences


def _priority_areas(
    frame: gpd.GeoDataFrame | None, places: gpd.GeoDataFrame
) -> tuple[PriorityArea, ...]:
    if not isinstance(frame, gpd.GeoDataFrame) or frame.empty:
        return ()
    top = frame.sort_values("rank").head(TOP_PRIORITY_AREAS)
    names = cells_to_places(top, places)
    return tuple(
        PriorityArea(
            int(row.rank),
            name,
            int(row.cells),
            float(row.score),
            float(row.expected_findings),
            str(row.reasons_zh),
            tuple(str(e["name"]) for e in json.loads(str(row.top_enterprises or "[]"))[:3]),
        )
        for row, name in zip(top.itertuples(), names, strict=True)
    )


def _draw(engine: Engine, jurisdiction: str, names: pd.Series) -> DrawState | None:
    draws = list_draws(engine, [jurisdiction_prefix(jurisdiction)])
    if not draws:
        return None
    draw = draws[-1]
    selected = json.loads(draw.record_json).get("selected", [])
    return DrawState(
        draw.draw_id,
        draw.quarter,
        str(names.get(draw.jurisdiction, draw.jurisdiction)),
        _beijing(draw.created_at),
        len(selected),
        draw.data_version,
    )


def _quality(engine: Engine, jurisdiction: str) -> tuple[QualityNote, ...]:
    report = jurisdiction_quality(engine, jurisdiction)
    return tuple(
        QualityNote(
            zh,
            int(report["precision"][kind]["records"]),
            report["precision"][kind]["shares"]["point"],
            report["links"][kind]["link_rate"],
        )
        for kind, zh in _KIND_ZH.items()
    )


def _beijing(moment: dt.datetime) -> str:
    aware = moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    return china_now(aware).strftime("%Y-%m-%d %H:%M（北京时间）")


def gather_brief(engine: Engine, request: BriefRequest, settings: Settings | None = None) -> Brief:
    """Everything the briefing of ``request`` prints, read as its endpoints answer it."""
    name, outline, places = _places(engine, request.jurisdiction)
    filters = request.filters()
    level_below = "city" if request.jurisdiction.endswith("0000") else "county"
    kde, kde_parameters = _layer(engine, "kde", filters, {}, settings)
    hotspots, hotspot_parameters = _layer(engine, "hotspots", filters, {}, settings)
    start, end, step = request.period.trend_window()
    trend_filters = Filters(jurisdiction=request.jurisdiction, start=start, end=end)
    emerging, emerging_parameters = _layer(
        engine, "emerging-hotspots", trend_filters, {"step": step}, settings
    )
    commonalities, common_parameters = _layer(
        engine, "commonalities", filters, {"unit": level_below}, settings
    )
    areas, area_parameters = _layer(engine, "priority-areas", filters, {}, settings)
    common, differences = _commonalities(commonalities, common_parameters)
    density = geotiff_to_surface(kde) if isinstance(kde, bytes) else None
    cells = hotspots if isinstance(hotspots, gpd.GeoDataFrame) else _no_cells()
    changes = hotspot_changes(emerging, places) if isinstance(emerging, gpd.GeoDataFrame) else ()
    steps = emerging_parameters.get("steps") or [start.isoformat(), end.isoformat()]
    step_zh = "按季度" if step == "quarter" else "按月"
    return Brief(
        jurisdiction=request.jurisdiction,
        jurisdiction_name=name,
        period=request.period,
        generated_at=_beijing(dt.datetime.now(dt.UTC)),
        data_version=data_version(engine),
        figures=_figures(engine, request),
        maps=MapInputs(outline, places, density, cells),
        density_source=Source("/downloads/kde.tif", _query(filters)),
        hotspot_source=_layer_source("hotspots", filters),
        changes=changes,
        changes_window=f"{steps[0]} 至 {steps[-1]}，{step_zh}",
        changes_source=_layer_source("emerging-hotspots", trend_filters, step=step),
        problem_types=_problem_types(engine, request),
        problem_types_source=Source("/stats/cases", _query(filters, group_by="problem_type")),
        common=common,
        differences=differences,
        commonalities_source=_layer_source("commonalities", filters, unit=level_below),
        priority_areas=_priority_areas(areas, places),
        priority_source=_layer_source("priority-areas", filters),
        draw=_draw(engine, request.jurisdiction, read_divisions(engine).table["name"]),
        draw_source=Source("/draws", (("jurisdiction", request.jurisdiction),)),
        quality=_quality(engine, request.jurisdiction),
        quality_source=Source("/quality", (("jurisdiction", request.jurisdiction),)),
        parameters={
            "kde": {**kde_parameters, **_surface_parameters(density)},
            "hotspots": hotspot_parameters,
            "emerging-hotspots": emerging_parameters,
            "commonalities": {
                k: v for k, v in common_parameters.items() if k not in ("by_industry", "types")
            },
            "priority-areas": {
                k: area_parameters.get(k) for k in ("resolution", "as_of", "window", "weights")
            },
        },
    )


def _no_cells() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"gi_bin": []}, geometry=[], crs="EPSG:4326")


def _surface_parameters(density: DensitySurface | None) -> dict[str, Any]:
    """The bandwidth and cell the density surface was computed with (chosen by rule when
    not asked for)."""
    if density is None:
        return {}
    return {"bandwidth_m_used": density.bandwidth_m, "cell_m_used": density.grid.cell_m}
