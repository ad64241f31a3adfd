"""The enterprise file (一源一档): one register entry with every record linked to it.

Pure: :func:`enterprise_document` shapes a register entry, its linked records (plain
dicts by kind, as the store reads them) and its risk into the file's JSON document —
one timeline, the penalties and their execution, and for each "未批先建" case whether
the enterprise's EIA approval is dated after the case, missing or before it. The
document is then written as a printable Chinese page (:func:`document_to_html`, with
an inline SVG map of the county: :func:`outline_svg`, no external asset) or a
workbook with a sheet per part (:func:`document_to_xlsx`).
"""

from __future__ import annotations

import datetime as dt
import html
import math
from collections.abc import Mapping, Sequence
from typing import Any

import shapely
from openpyxl import Workbook
from openpyxl.styles import Font

from layers.labels import STRATUM_LABELS_ZH
from layers.printable import printable_page, workbook_bytes
from layers.spreadsheets import safe_row

#: Kinds of linked records: their Chinese name, key, date and colour on the map.
KINDS: dict[str, tuple[str, str, str, str]] = {
    "cases": ("行政处罚", "case_id", "decision_date", "#b2182b"),
    "inspections": ("现场检查", "inspection_id", "inspection_date", "#2166ac"),
    "exceedances": ("在线监测超标", "exceedance_id", "monitor_date", "#e08214"),
    "complaints": ("信访投诉", "complaint_id", "complaint_date", "#762a83"),
    "projects": ("建设项目", "project_id", "eia_approval_date", "#1b7837"),
}
#: The violation type whose evidence the file checks against the projects' approvals.
BUILT_BEFORE_APPROVAL = "未批先建"
FINDINGS_ZH = {
    "after": "环评批复晚于处罚决定（未批先建有据）",
    "missing": "未见环评批复（未批先建有据）",
    "before": "环评批复早于处罚决定（需核实）",
}
NO_STATUS = "未注明"
#: Section titles of the page (and the sheets of the workbook, in the same order).
SECTIONS = ("企业基本信息", "位置示意图", "时间轴", "处罚与执行", "风险评估", "未批先建核查")
SHEETS = ("企业信息", "时间轴", "处罚执行", "风险评估", "未批先建核查")
REGISTER_LABELS = {
    "credit_code": "统一社会信用代码",
    "name": "单位名称",
    "industry_code": "行业代码",
    "industry_name": "行业类别",
    "address": "地址",
    "category_zh": "监管类别",
    "permit_no": "排污许可证编号",
    "county_name": "所在区县",
    "adcode": "行政区划代码",
    "lon": "经度",
    "lat": "纬度",
}
TIMELINE_HEADERS = ("日期", "类别", "编号", "摘要", "关联方式", "关联得分", "区划代码")
RISK_LABELS = {
    "score": "风险得分",
    "tier": "风险等级",
    "expected_findings": "预计每年发现问题",
    "reasons_zh": "主要风险因素",
    "last_inspected": "最近检查日期",
    "as_of": "评估日",
}
TIER_ZH = {"high": "高", "medium": "中", "low": "低"}


def _iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, dt.date) else (str(value) if value else None)


def _number(value: Any) -> float | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return float(value)


def _summary(kind: str, r: Mapping[str, Any]) -> str:
    """One line about a record, in Chinese."""
    if kind == "cases":
        amount = _number(r.get("penalty_amount"))
        money = f"罚款 {amount:,.0f} 元" if amount is not None else "未罚款"
        return "；".join([r.get("violation_type") or "—", money, r.get("status") or NO_STATUS])
    if kind == "inspections":
        found_flag = r.get("problem_found")
        found = "—" if found_flag is None else ("发现问题" if found_flag else "未发现问题")
        return f"{found}：{r.get('problem_category') or '—'}"
    if kind == "exceedances":
        value, limit = r.get("value"), r.get("limit")
        return f"{r.get('pollutant') or '—'} {value}{r.get('unit') or ''}（限值 {limit}）"
    if kind == "complaints":
        return f"{r.get('category') or '—'}：{(r.get('description') or '')[:60]}"
    approval = r.get("eia_approval_no") or "无环评批复"
    return f"{r.get('project_name') or '—'}；{approval}；{r.get('status') or NO_STATUS}"


def timeline_of(records: Mapping[str, Sequence[Mapping[str, Any]]]) -> list[dict[str, Any]]:
    """Every linked record as one entry (date, kind, id, summary, link method and score,
    county, lon/lat), oldest first; undated entries (projects without an approval) last."""
    entries = []
    for kind, rows in records.items():
        label, key, date, _ = KINDS[kind]
        for r in rows:
            when = r.get(date) or (r.get("acceptance_date") if kind == "projects" else None)
            entries.append(
                {
                    "date": _iso(when),
                    "kind": kind,
                    "kind_zh": label,
                    "id": str(r[key]),
                    "summary": _summary(kind, r),
                    "link_method": r.get("link_method"),
                    "link_score": _number(r.get("link_score")),
                    "adcode": r.get("adcode"),
                    "lon": _number(r.get("lon")),
                    "lat": _number(r.get("lat")),
                }
            )
    return sorted(entries, key=lambda e: (e["date"] is None, e["date"] or "", e["kind"], e["id"]))


def penalties_of(cases: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Penalties of the cases: how many cases, how many fined, the sum (yuan) and, by
    execution status (执行情况; 未注明 when none), the count and the sum."""
    by_status: dict[str, dict[str, Any]] = {}
    fined, total = 0, 0.0
    for case in cases:
        amount = _number(case.get("penalty_amount")) or 0.0
        status = by_status.setdefault(case.get("status") or NO_STATUS, {"count": 0, "sum": 0.0})
        status["count"] += 1
        status["sum"] += amount
        fined += amount > 0
        total += amount
    return {"cases": len(cases), "fined": fined, "sum": total, "by_status": by_status}


def _relation(approved: dt.date | None, decided: dt.date) -> str:
    if approved is None:
        return "missing"
    return "after" if approved > decided else "before"


def approval_evidence(
    cases: Sequence[Mapping[str, Any]], projects: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """For each "未批先建" case (by violation type or facts), the projects' EIA approvals
    against its decision date. ``finding``: ``after`` when an approval is dated after the
    case, else ``missing`` when a project (or every one: none listed) has none, else
    ``before``."""
    out = []
    for case in cases:
        text = f"{case.get('violation_type') or ''}{case.get('description') or ''}"
        if BUILT_BEFORE_APPROVAL not in text:
            continue
        decided = case["decision_date"]
        listed = [
            {
                "project_id": p["project_id"],
                "project_name": p.get("project_name"),
                "eia_approval_no": p.get("eia_approval_no"),
                "eia_approval_date": _iso(p.get("eia_approval_date")),
                "relation": _relation(p.get("eia_approval_date"), decided),
            }
            for p in projects
        ]
        relations = {p["relation"] for p in listed} or {"missing"}
        finding = next(f for f in ("after", "missing", "before") if f in relations)
        out.append(
            {
                "case_id": case["case_id"],
                "decision_date": _iso(decided),
                "finding": finding,
                "finding_zh": FINDINGS_ZH[finding],
                "projects": listed,
            }
        )
    return out


def enterprise_document(
    register: Mapping[str, Any],
    records: Mapping[str, Sequence[Mapping[str, Any]]],
    risk: Mapping[str, Any],
    county_name: str | None = None,
) -> dict[str, Any]:
    """The file as a JSON document: ``enterprise`` (the register entry), ``counts`` by
    kind, ``timeline``, ``penalties``, ``risk`` (as given) and ``approval_evidence``."""
    enterprise = {k: (_number(v) if k in ("lon", "lat") else v) for k, v in register.items()}
    enterprise["category_zh"] = STRATUM_LABELS_ZH.get(str(register.get("category")), None)
    enterprise["county_name"] = county_name
    return {
        "credit_code": register["credit_code"],
        "enterprise": enterprise,
        "counts": {kind: len(rows) for kind, rows in records.items()},
        "timeline": timeline_of(records),
        "penalties": penalties_of(records.get("cases", ())),
        "risk": dict(risk),
        "approval_evidence": approval_evidence(
            records.get("cases", ()), records.get("projects", ())
        ),
    }


# ---- the map ------------------------------------------------------------------------


def outline_svg(
    outline_wkb: bytes | None,
    enterprise: tuple[float, float] | None,
    dots: Sequence[tuple[float, float, str]],
    width: int = 480,
) -> str:
    """An inline SVG of a county's outline (WGS84 WKB) with the enterprise as a ringed dot
    and its records as small dots coloured by kind (:data:`KINDS`); lon/lat drawn in an
    equirectangular view at the area's middle latitude. No external asset."""
    shape = shapely.from_wkb(outline_wkb) if outline_wkb else None
    points = [(x, y) for x, y, _ in dots] + ([enterprise] if enterprise else [])
    boxes = [shape.bounds] if shape is not None else []
    boxes += [(x, y, x, y) for x, y in points]
    if not boxes:
        return f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="40"></svg>'
    west, south = min(b[0] for b in boxes), min(b[1] for b in boxes)
    east, north = max(b[2] for b in boxes), max(b[3] for b in boxes)
    squeeze = math.cos(math.radians((south + north) / 2))
    span = max((east - west) * squeeze, north - south, 1e-4)
    scale = (width - 20) / span
    height = int((north - south) * scale) + 20

    def at(lon: float, lat: float) -> str:
        return f"{10 + (lon - west) * squeeze * scale:.1f},{10 + (north - lat) * scale:.1f}"

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="enterprise-map" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" aria-label="位置示意图">'
    ]
    if shape is not None:
        rings = [
            ring
            for polygon in getattr(shape, "geoms", [shape])
            for ring in (polygon.exterior, *polygon.interiors)
        ]
        path = " ".join("M" + " L".join(at(x, y) for x, y in ring.coords) + " Z" for ring in rings)
        parts.append(
            f'<path d="{path}" fill="#f4f1e8" stroke="#555" stroke-width="1" fill-rule="evenodd"/>'
        )
    for lon, lat, kind in dots:
        x, y = at(lon, lat).split(",")
        label, _, _, colour = KINDS.get(kind, (kind, "", "", "#333"))
        parts.append(
            f'<circle cx="{x}" cy="{y}" r="3.5" fill="{colour}" fill-opacity="0.8">'
            f"<title>{html.escape(label)}</title></circle>"
        )
    if enterprise is not None:
        x, y = at(*enterprise).split(",")
        parts.append(
            f'<circle cx="{x}" cy="{y}" r="6" fill="#ffd700" stroke="#000" stroke-width="1.5">'
            "<title>企业位置</title></circle>"
        )
    parts.append("</svg>")
    return "".join(parts)


# ---- the page and the workbook -------------------------------------------------------


def _register_rows(doc: Mapping[str, Any]) -> list[tuple[str, Any]]:
    ent = doc["enterprise"]
    return [(label, ent.get(key)) for key, label in REGISTER_LABELS.items()]


def _timeline_rows(doc: Mapping[str, Any]) -> list[list[Any]]:
    return [
        [e["date"] or "", e["kind_zh"], e["id"], e["summary"], e["link_method"] or "",
         e["link_score"], e["adcode"] or ""]
        for e in doc["timeline"]
    ]  # fmt: skip


def _penalty_rows(doc: Mapping[str, Any]) -> list[list[Any]]:
    p = doc["penalties"]
    rows: list[list[Any]] = [["合计", p["cases"], p["fined"], p["sum"]]]
    rows += [[s, v["count"], "", v["sum"]] for s, v in p["by_status"].items()]
    return rows


def _risk_rows(doc: Mapping[str, Any]) -> list[tuple[str, Any]]:
    risk = doc["risk"]
    if not risk.get("available"):
        return [("风险评估", f"无法计算：{risk.get('reason', '')}")]
    rows = [(label, risk.get(key)) for key, label in RISK_LABELS.items()]
    return [(k, TIER_ZH.get(str(v), v) if k == "风险等级" else v) for k, v in rows]


def _evidence_rows(doc: Mapping[str, Any]) -> list[list[Any]]:
    rows = []
    for item in doc["approval_evidence"]:
        approvals = "；".join(
            f"{p['project_id']} {p['eia_approval_date'] or '无批复'}" for p in item["projects"]
        )
        rows.append([item["case_id"], item["decision_date"], item["finding_zh"], approvals])
    return rows


_PENALTY_HEADERS = ("执行情况", "案件数", "罚款案件数", "罚款金额（元）")
_EVIDENCE_HEADERS = ("案件编号", "处罚决定日期", "核查结论", "建设项目及环评批复日期")


def document_to_xlsx(doc: Mapping[str, Any]) -> bytes:
    """The file as a workbook, a sheet per part (:data:`SHEETS`), Chinese headers; text
    from files never becomes a live formula."""
    book = Workbook()
    sheets: dict[str, tuple[Sequence[str], Sequence[Sequence[Any]]]] = {
        "企业信息": (("项目", "内容"), _register_rows(doc)),
        "时间轴": (TIMELINE_HEADERS, _timeline_rows(doc)),
        "处罚执行": (_PENALTY_HEADERS, _penalty_rows(doc)),
        "风险评估": (("项目", "内容"), _risk_rows(doc)),
        "未批先建核查": (_EVIDENCE_HEADERS, _evidence_rows(doc)),
    }
    first = book.active
    assert first is not None
    book.remove(first)
    for title, (headers, rows) in sheets.items():
        sheet = book.create_sheet(title)
        sheet.append(list(headers))
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for row in rows:
            sheet.append(safe_row(row))
        sheet.column_dimensions["A"].width = 22
        sheet.column_dimensions["D"].width = 48
    return workbook_bytes(book)


_CSS = """
body { font-family: "SimSun", "Songti SC", "Noto Serif CJK SC", serif; margin: 2em; }
h1 { font-size: 1.5em; text-align: center; }
table { border-collapse: collapse; width: 100%; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #333; padding: 0.3em 0.5em; vertical-align: top; text-align: left; }
th { background: #eee; }
.note { color: #555; }
@media print { body { margin: 0; } th { background: none; } tr { page-break-inside: avoid; } }
"""


def _table(headers: Sequence[str] | None, rows: Sequence[Sequence[Any]]) -> str:
    esc = html.escape
    head = "<tr>" + "".join(f"<th>{esc(h)}</th>" for h in headers) + "</tr>" if headers else ""
    body = "".join(
        "<tr>" + "".join(f"<td>{esc('' if v is None else str(v))}</td>" for v in row) + "</tr>"
        for row in rows
    )
    return f"<table>{head}{body}</table>"


def document_to_html(doc: Mapping[str, Any], svg: str) -> str:
    """The file as a printable page in Chinese (:data:`SECTIONS`) with the inline map."""
    esc = html.escape
    name = str(doc["enterprise"].get("name") or doc["credit_code"])
    evidence = _evidence_rows(doc)
    parts = [
        _table(None, _register_rows(doc)),
        svg,
        _table(TIMELINE_HEADERS, _timeline_rows(doc)) if doc["timeline"] else "<p>无关联记录</p>",
        _table(_PENALTY_HEADERS, _penalty_rows(doc)),
        _table(None, _risk_rows(doc)),
        _table(_EVIDENCE_HEADERS, evidence) if evidence else "<p>无未批先建案件</p>",
    ]
    body = "\n".join(
        f"<h2>{esc(title)}</h2>\n{part}" for title, part in zip(SECTIONS, parts, strict=True)
    )
    page = f"""<h1>一源一档：{esc(name)}</h1>
<p class="note">统一社会信用代码 {esc(str(doc["credit_code"]))}；仅列出本账号辖区内的记录。</p>
{body}"""
    return printable_page(f"一源一档 {name}", _CSS, page)
