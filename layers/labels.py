"""Chinese names the deliverables give to analytic terms (one table each)."""

from __future__ import annotations

#: Risk components named as reasons (``reasons_zh``, draw records, the planner map).
REASON_LABELS_ZH: dict[str, str] = {
    "repeat_offending": "重复违法",
    "severity": "处罚金额",
    "problems_found": "检查发现问题",
    "industry_rate": "行业案件率",
    "inspection_gap": "检查间隔",
    "case_density": "案件密度",
    "hotspot": "热点",
    "trend": "上升趋势",
    "exceedances": "在线监测超标",
    "complaints": "信访投诉",
    "problem_mix": "问题类型",
}

#: Supervision categories (监管类别): the strata of the draw.
STRATUM_LABELS_ZH: dict[str, str] = {
    "key": "重点排污单位",
    "special": "特殊监管对象",
    "general": "一般排污单位",
}
