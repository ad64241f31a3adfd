"""Statistics ledgers over HTTP: ``/stats/{cases|inspections|commonalities}`` as JSON or
XLSX. The commonalities ledger (共性与差异) tests the problem types of the typed records per
county, city or industry (:func:`analytics.ledgers.commonality_ledger`)."""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np
import pandas as pd
from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse, Response
from sqlalchemy import Engine

from analytics import cell_key
from analytics.industries import name_industries
from analytics.ledgers import (
    EXECUTED,
    LEDGER_HEADERS,
    case_ledger,
    commonality_ledger,
    inspection_ledger,
    with_total,
)
from geo_service.api.dependencies import Caller, get_caller, get_engine, scoped_filters
from geo_service.builds.problem_types import label_records
from geo_service.builds.public import public_ledger, store_secret
from geo_service.core.clock import china_now
from geo_service.core.errors import AuthenticationRequiredError, BadFilterError, UnknownLayerError
from geo_service.core.filters import FILTER_FIELDS, Filters
from geo_service.store.boundaries import read_divisions
from geo_service.store.queries import data_version, read_frame
from layers.spreadsheets import ledger_workbook, safe_frame

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_DATE = {"cases": "decision_date", "inspections": "inspection_date"}
_ID = {"cases": "case_id", "inspections": "inspection_id"}
_TYPE = {"cases": "violation_type", "inspections": "problem_category"}
_VALUES = {"cases": ["penalty_amount", "status"], "inspections": ["problem_found"]}
GROUPS = (
    "province",
    "city",
    "county",
    "industry",
    "type",
    "problem_type",
    "year",
    "quarter",
    "month",
)

GROUP_BY_DOC = (
    f"comma-separated: {', '.join(GROUPS)} (city and county need an account); the "
    "commonalities ledger: one of county, city, industry (an account only)"
)

router = APIRouter()


def _group_columns(kind: str, group_by: str) -> list[str]:
    names = [g.strip() for g in group_by.split(",") if g.strip()]
    unknown = [g for g in names if g not in GROUPS]
    if unknown or not names:
        raise BadFilterError(f"group_by must name some of {', '.join(GROUPS)}")
    return names


def _frame(engine: Engine, kind: str, filters: Filters, groups: list[str]) -> pd.DataFrame:
    columns = [
        _ID[kind],
        "province_adcode",
        "city_adcode",
        "adcode",
        "industry_code",
        _TYPE[kind],
        "problem_type_label",
        _DATE[kind],
        *_VALUES[kind],
    ]
    raw = read_frame(engine, kind, filters, columns)
    names = read_divisions(engine).table["name"]
    dates = pd.to_datetime(raw[_DATE[kind]])
    derived = {
        "province": raw["province_adcode"].map(names),
        "city": raw["city_adcode"].map(names),
        "county": raw["adcode"].map(names),
        "industry": raw["industry_code"],
        "type": raw[_TYPE[kind]],
        "problem_type": raw["problem_type_label"],
        "year": dates.dt.year.astype("Int64").astype(str),
        "quarter": dates.dt.year.astype("Int64").astype(str)
        + "-Q"
        + dates.dt.quarter.astype("Int64").astype(str),
        "month": dates.dt.strftime("%Y-%m"),
    }
    frame = pd.DataFrame({g: derived[g] for g in groups})
    for column in [_ID[kind], *_VALUES[kind]]:
        frame[column] = raw[column]
    return frame


#: The ledger of the problem types' commonalities and differences, and what it groups by.
COMMONALITIES = "commonalities"
COMMONALITY_GROUPS = ("county", "city", "industry")


def _typed(engine: Engine, filters: Filters, group: str) -> pd.DataFrame:
    """The cases and problem findings the labelling step typed, with ``group`` (a county's
    or city's name, or the industry code) and ``problem_type`` (the type's label)."""
    label_records(engine)  # the labels current (made only after an ingest)
    names = read_divisions(engine).table["name"]
    frames = []
    for kind in _DATE:
        extra = ["problem_found"] if kind == "inspections" else []
        columns = ["adcode", "city_adcode", "industry_code", "problem_type", "problem_type_label"]
        raw = read_frame(engine, kind, filters, [*columns, *extra])
        typed = raw["problem_type"].fillna(-1).to_numpy(np.int64) >= 0
        if extra:
            typed &= raw["problem_found"].astype("boolean").fillna(False).to_numpy(bool)
        frames.append(raw[typed])
    raw = pd.concat(frames, ignore_index=True)
    derived = {
        "county": raw["adcode"].map(names),
        "city": raw["city_adcode"].map(names),
        "industry": raw["industry_code"],
    }
    return pd.DataFrame({group: derived[group], "problem_type": raw["problem_type_label"]})


def _commonalities(engine: Engine, group_by: str, filters: Filters) -> pd.DataFrame:
    if filters.min_count is not None:
        raise AuthenticationRequiredError("the commonalities ledger needs an account")
    groups = [g.strip() for g in group_by.split(",") if g.strip()]
    if len(groups) != 1 or groups[0] not in COMMONALITY_GROUPS:
        raise BadFilterError(
            f"the commonalities ledger groups by one of {', '.join(COMMONALITY_GROUPS)}"
        )
    return commonality_ledger(_typed(engine, filters, groups[0]), groups[0])


def _ledger(engine: Engine, kind: str, group_by: str, filters: Filters) -> pd.DataFrame:
    if kind == COMMONALITIES:
        return _commonalities(engine, group_by, filters)
    if kind not in _DATE:
        raise UnknownLayerError(f"no ledger {kind!r}; use cases, inspections or commonalities")
    groups = _group_columns(kind, group_by)
    if filters.min_count is not None and {"city", "county"} & set(groups):
        raise AuthenticationRequiredError("ledgers by city or county need an account")
    frame = _frame(engine, kind, filters, groups)
    build = case_ledger if kind == "cases" else inspection_ledger
    table = build(frame, groups).fillna({g: "" for g in groups})
    if filters.min_count is not None:  # the public view: perturbed counts, nothing else
        table = _public(engine, kind, frame, table, groups)
    return table


def ledger_table(engine: Engine, kind: str, group_by: str, filters: Filters) -> pd.DataFrame:
    """The ledger ``GET /stats/{kind}?group_by=…`` answers for these filters (industries
    named): what other readers of the ledgers (the briefing) take their figures from."""
    return name_industries(_ledger(engine, kind, group_by, filters))


def _public(
    engine: Engine, kind: str, frame: pd.DataFrame, table: pd.DataFrame, groups: list[str]
) -> pd.DataFrame:
    """The ledger as anonymous callers get it (:func:`disclosure.views.public_ledger`)."""
    keys = cell_key.record_keys(frame[_ID[kind]].astype(str), store_secret(engine), kind)
    counts: dict[str, np.ndarray | None] = {kind: None}
    if kind == "inspections":
        found = frame["problem_found"].astype("boolean").fillna(False).to_numpy(bool)
        counts["problems_found"] = found
    return public_ledger(table, frame, keys, groups, counts)


@router.get("/stats/{kind}.xlsx", operation_id="stats_xlsx", response_class=Response)
def stats_xlsx(
    kind: str,
    group_by: str = Query(
        "city,month",
        description=GROUP_BY_DOC,
    ),
    filters: Filters = Depends(scoped_filters),
    engine: Engine = Depends(get_engine),
    _caller: Caller = Depends(get_caller),
) -> Response:
    """The ledger as a clerk files it (cases, inspections): a first sheet 说明 with the
    title, filters, data version and time, then the table under Chinese heads with a
    合计 row (:func:`layers.spreadsheets.ledger_workbook`); the commonalities ledger as
    one plain sheet."""
    table = ledger_table(engine, kind, group_by, filters)
    headers = {"Content-Disposition": f'attachment; filename="{kind}-ledger.xlsx"'}
    if kind in _DATE:
        groups = _group_columns(kind, group_by)
        title, cover = _cover(engine, kind, groups, filters)
        sheet = f"{_KIND_ZH[kind]}台账"
        book = ledger_workbook(title, cover, with_total(table, groups), LEDGER_HEADERS, sheet)
        return Response(book, media_type=XLSX, headers=headers)
    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        safe_frame(table).to_excel(writer, index=False, sheet_name=kind)  # no live formulas
    return Response(buffer.getvalue(), media_type=XLSX, headers=headers)


_KIND_ZH = {"cases": "行政处罚案件", "inspections": "现场检查"}
_RATE_NOTES = {
    "cases": f"执行率 = 已执行案件数 ÷ 案件数；已执行指执行情况为{'、'.join(EXECUTED)}",
    "inspections": "发现问题比例 = 发现问题次数 ÷ 检查次数",
}


def _cover(
    engine: Engine, kind: str, groups: list[str], filters: Filters
) -> tuple[str, list[tuple[str, Any]]]:
    """The ledger's title and the rows of its 说明 sheet: what it counts, under which
    filters, from which data version, when."""
    by = "、".join(LEDGER_HEADERS.get(g, g) for g in groups)
    title = f"{_KIND_ZH[kind]}统计台账（按{by}）"
    given = filters.as_dict()
    names = read_divisions(engine).table["name"]
    shown = []
    for name, value in given.items():
        label = FILTER_FIELDS.get(name, name).split(" ")[0]
        if name == "jurisdiction":
            value = f"{names.get(value, '')} {value}".strip()
        shown.append(f"{label}：{value}")
    version = data_version(engine)
    now = china_now().strftime("%Y-%m-%d %H:%M:%S（北京时间）")
    public = filters.min_count is not None
    source = {"kind": kind, "group_by": groups, "filters": given, "data_version": version}
    return title, [
        ("标题", title),
        ("筛选条件", "；".join(shown) or "无（全部数据）"),
        ("数据版本", version),
        ("生成时间", now),
        ("视图", "公开视图：计数经随机扰动，其余列不公开" if public else "账号视图（未扰动）"),
        ("口径", _RATE_NOTES[kind]),
        ("合计", "末行合计为上列各数之和；比率按合计数重新计算，不是各行比率之和"),
        ("来源 provenance", json.dumps(source, ensure_ascii=False)),
    ]


@router.get("/stats/{kind}", operation_id="stats")
def stats(
    kind: str,
    group_by: str = Query(
        "city,month",
        description=GROUP_BY_DOC,
    ),
    filters: Filters = Depends(scoped_filters),
    engine: Engine = Depends(get_engine),
    _caller: Caller = Depends(get_caller),
) -> JSONResponse:
    table = ledger_table(engine, kind, group_by, filters)
    rows: list[dict[str, Any]] = json.loads(table.to_json(orient="records", force_ascii=False))
    return JSONResponse(
        {
            "kind": kind,
            "group_by": _group_columns(kind, group_by),
            "filters": filters.as_dict(),
            "data_version": data_version(engine),
            "rows": rows,
        }
    )
