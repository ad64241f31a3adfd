"""Input columns of each record kind, with the English and usual Chinese headers."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from sqlalchemy import Table

from geo_service.core.errors import InputFileError
from geo_service.store.models import INGEST_TABLES

KINDS = (
    "enterprises",
    "cases",
    "inspections",
    "exceedances",
    "complaints",
    "projects",
    "inspectors",
)

_COMMON: dict[str, tuple[str, ...]] = {
    "credit_code": ("统一社会信用代码", "社会信用代码", "信用代码", "uscc"),
    "address": ("地址", "详细地址", "单位地址", "注册地址", "生产经营场所地址"),
    "lon": ("经度", "longitude", "lng", "x"),
    "lat": ("纬度", "latitude", "y"),
    "crs": ("坐标系", "坐标系统", "坐标类型"),
    "adcode": ("行政区划代码", "区划代码", "行政区代码"),
    "industry_code": ("行业代码", "国民经济行业代码", "行业类别代码"),
}

_ALIASES: dict[str, dict[str, tuple[str, ...]]] = {
    "enterprises": {
        "name": ("单位名称", "企业名称", "污染源名称", "名称"),
        "industry_name": ("行业类别", "行业名称", "所属行业"),
        "category": ("监管类别", "重点类别", "监管类型"),
        "permit_no": ("排污许可证编号", "许可证编号", "排污许可证号"),
    },
    "cases": {
        "case_id": ("案件编号", "处罚决定书文号", "决定书文号", "案号"),
        "decision_date": ("处罚决定日期", "决定日期", "处罚日期"),
        "enterprise_name": ("当事人", "当事人名称", "企业名称", "单位名称"),
        "violation_type": ("违法类型", "违法行为类型", "案件类型"),
        "law_article": ("违反条款", "违法条款", "处罚依据"),
        "description": ("违法事实", "主要违法事实", "案情简介"),
        "penalty_amount": ("罚款金额", "罚款金额(元)", "罚款金额（元）", "罚没金额"),
        "status": ("执行情况", "执行状态", "办理状态"),
    },
    "inspections": {
        "inspection_id": ("检查编号", "检查记录编号", "任务编号"),
        "inspection_date": ("检查日期", "检查时间", "执法日期"),
        "enterprise_name": ("当事人", "企业名称", "单位名称", "被检查单位"),
        "inspectors": ("执法人员", "检查人员"),
        "problem_found": ("是否发现问题", "发现问题", "是否存在问题"),
        "problem_category": ("问题类别", "问题类型"),
        "description": ("检查情况", "检查内容", "现场检查情况"),
    },
    "exceedances": {
        "exceedance_id": ("超标记录编号", "超标编号", "记录编号", "报警编号"),
        "monitor_date": ("监测日期", "超标日期", "监测时间", "超标时间", "数据时间"),
        "enterprise_name": ("单位名称", "企业名称", "排污单位名称", "排污单位", "当事人"),
        "pollutant": ("污染因子", "监测因子", "超标因子", "污染物", "污染物名称"),
        "value": ("监测值", "实测值", "监测浓度", "排放浓度", "超标值"),
        "limit": ("标准限值", "排放限值", "限值", "标准值"),
        "unit": ("单位", "计量单位", "浓度单位"),
    },
    "complaints": {
        "complaint_id": ("投诉编号", "信访编号", "信访件编号", "举报编号", "受理编号"),
        "complaint_date": ("投诉日期", "信访日期", "投诉时间", "举报日期", "受理日期"),
        "enterprise_name": ("被投诉单位", "被投诉对象", "被举报单位", "企业名称", "单位名称"),
        "category": ("投诉类别", "投诉类型", "污染类型", "问题类别"),
        "description": ("投诉内容", "信访内容", "举报内容", "反映问题", "诉求内容"),
    },
    "projects": {
        "project_id": ("项目编号", "项目代码", "建设项目编号", "审批编号"),
        "project_name": ("项目名称", "建设项目名称"),
        "enterprise_name": ("建设单位", "建设单位名称", "企业名称", "单位名称"),
        "eia_approval_no": ("环评批复文号", "环评审批文号", "批复文号", "审批文号"),
        "eia_approval_date": ("环评批复日期", "环评审批日期", "批复日期", "审批日期"),
        "acceptance_date": ("竣工环保验收日期", "验收日期", "环保验收日期", "竣工验收日期"),
        "status": ("项目状态", "建设状态", "状态"),
    },
    "inspectors": {
        "inspector_id": ("执法证号", "执法证编号", "执法证件号", "执法证件编号"),
        "name": ("姓名", "执法人员姓名", "人员姓名"),
        "adcode": ("所属单位行政区划代码", "单位行政区划代码"),
        "active": ("在岗", "是否在岗", "在岗状态"),
        "excluded_credit_codes": ("回避单位", "回避企业", "回避单位信用代码", "回避单位代码"),
    },
}


@dataclass(frozen=True)
class KindSpec:
    """What an ingest of one kind needs: its natural key, date and required columns."""

    kind: str
    id_column: str
    date_column: str | None
    required: tuple[str, ...]
    columns: tuple[str, ...]
    numbers: tuple[str, ...] = ()  # plain numbers: a cell with text but no number is rejected
    located: bool = True  # placed on the map by the geocoding chain (the roster is not)
    optional_dates: tuple[str, ...] = ()  # dates that may be empty (a bad one is rejected)

    @property
    def table(self) -> Table:
        """The store's table the kind's records go into."""
        return INGEST_TABLES[self.kind].__table__  # type: ignore[return-value]


SPECS: dict[str, KindSpec] = {
    "enterprises": KindSpec(
        "enterprises",
        "credit_code",
        None,
        ("credit_code", "name"),
        (
            "credit_code",
            "name",
            "industry_code",
            "industry_name",
            "address",
            "lon",
            "lat",
            "crs",
            "adcode",
            "category",
            "permit_no",
        ),
    ),
    "cases": KindSpec(
        "cases",
        "case_id",
        "decision_date",
        ("case_id", "decision_date"),
        (
            "case_id",
            "decision_date",
            "enterprise_name",
            "credit_code",
            "industry_code",
            "address",
            "lon",
            "lat",
            "crs",
            "violation_type",
            "law_article",
            "description",
            "penalty_amount",
            "status",
            "adcode",
        ),
    ),
    "inspections": KindSpec(
        "inspections",
        "inspection_id",
        "inspection_date",
        ("inspection_id", "inspection_date"),
        (
            "inspection_id",
            "inspection_date",
            "enterprise_name",
            "credit_code",
            "industry_code",
            "address",
            "lon",
            "lat",
            "crs",
            "inspectors",
            "problem_found",
            "problem_category",
            "description",
            "adcode",
        ),
    ),
    "exceedances": KindSpec(
        "exceedances",
        "exceedance_id",
        "monitor_date",
        ("exceedance_id", "monitor_date"),
        (
            "exceedance_id",
            "monitor_date",
            "credit_code",
            "enterprise_name",
            "industry_code",
            "address",
            "lon",
            "lat",
            "crs",
            "pollutant",
            "value",
            "limit",
            "unit",
            "adcode",
        ),
        numbers=("value", "limit"),
    ),
    "complaints": KindSpec(
        "complaints",
        "complaint_id",
        "complaint_date",
        ("complaint_id", "complaint_date"),
        (
            "complaint_id",
            "complaint_date",
            "credit_code",
            "enterprise_name",
            "industry_code",
            "address",
            "lon",
            "lat",
            "crs",
            "category",
            "description",
            "adcode",
        ),
    ),
    "projects": KindSpec(
        "projects",
        "project_id",
        None,
        ("project_id", "project_name"),
        (
            "project_id",
            "project_name",
            "enterprise_name",
            "credit_code",
            "industry_code",
            "address",
            "lon",
            "lat",
            "crs",
            "eia_approval_no",
            "eia_approval_date",
            "acceptance_date",
            "status",
            "adcode",
        ),
        optional_dates=("eia_approval_date", "acceptance_date"),
    ),
    "inspectors": KindSpec(
        "inspectors",
        "inspector_id",
        None,
        ("inspector_id", "name", "adcode"),
        ("inspector_id", "name", "adcode", "active", "excluded_credit_codes"),
        located=False,
    ),
}


def _key(header: str) -> str:
    return unicodedata.normalize("NFKC", str(header)).strip().lstrip("\ufeff").lower()


def unknown_kind(kind: str) -> InputFileError:
    """The error for a ``--kind`` that names no record kind, listing the kinds."""
    return InputFileError(
        f"未知的数据类型 {kind!r}，可选：{'、'.join(KINDS)} "
        f"(unknown kind {kind!r}; expected one of {', '.join(KINDS)})"
    )


def header_label(kind: str, column: str) -> str:
    """A column as a clerk knows it: its usual Chinese header, then its name."""
    aliases = _ALIASES.get(kind, {}).get(column, ()) + _COMMON.get(column, ())
    chinese = next((a for a in aliases if not a.isascii()), None)
    return f"{chinese} ({column})" if chinese else column


def check_required_headers(kind: str, headers: list[str], mapping: dict[str, str]) -> None:
    """Refuse a file that lacks a required column, listing what it has and what is needed.

    Examples
    --------
    >>> try:
    ...     check_required_headers("cases", ["a"], {"a": "a"})
    ... except InputFileError as err:
    ...     print(str(err).split("；")[0])
    文件缺少必需的列：案件编号 (case_id)、处罚决定日期 (decision_date)
    """
    found = set(mapping.values())
    missing = [c for c in SPECS[kind].required if c not in found]
    if not missing:
        return
    shown = "、".join(str(h) for h in headers) or "（无）"
    raise InputFileError(
        f"文件缺少必需的列：{'、'.join(header_label(kind, c) for c in missing)}；"
        f"文件中的列：{shown} (the file lacks required columns {', '.join(missing)}; "
        f"its headers: {', '.join(str(h) for h in headers) or '(none)'})"
    )


def map_headers(kind: str, headers: list[str]) -> dict[str, str]:
    """Map a file's headers to canonical column names (unknown headers map to themselves).

    Raises
    ------
    InputFileError
        When two headers mean the same column, or the kind is unknown.

    Examples
    --------
    >>> map_headers("cases", ["案件编号", "处罚决定日期", "经度", "备注"])
    {'案件编号': 'case_id', '处罚决定日期': 'decision_date', '经度': 'lon', '备注': '备注'}
    """
    if kind not in SPECS:
        raise unknown_kind(kind)
    lookup: dict[str, str] = {}
    for canonical in SPECS[kind].columns:
        aliases = _ALIASES[kind].get(canonical, ()) + _COMMON.get(canonical, ())
        for alias in (canonical, *aliases):
            lookup.setdefault(_key(alias), canonical)
    mapping: dict[str, str] = {}
    seen: dict[str, str] = {}
    for header in headers:
        canonical = lookup.get(_key(header), str(header).strip())
        if canonical in seen and canonical in SPECS[kind].columns:
            raise InputFileError(
                f"headers {seen[canonical]!r} and {header!r} both mean column {canonical!r}"
            )
        seen[canonical] = header
        mapping[header] = canonical
    return mapping
