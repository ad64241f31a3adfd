"""The data-quality report (数据清洗) as a JSON document, a printable page and a workbook.

The report's numbers come from the store (``geo_service.store.quality``); this module
only labels and lays them out, in Chinese, one table per part: the same tables in the
page (one section each) and in the workbook (one sheet each, after a first sheet with the
title, the scope, the data version and the time it was made). The page needs nothing
from the network: its style is inline.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font

from layers.printable import printable_page, workbook_bytes
from layers.spreadsheets import safe_cell, safe_row

KIND_LABELS_ZH: dict[str, str] = {
    "enterprises": "污染源登记",
    "cases": "行政处罚案件",
    "inspections": "现场检查",
    "exceedances": "在线监测超标",
    "complaints": "信访投诉",
    "projects": "建设项目",
    "inspectors": "执法人员",
}
LINK_METHOD_LABELS_ZH: dict[str, str] = {
    "credit_code": "信用代码匹配",
    "name": "名称匹配",
    "fuzzy": "模糊匹配",
    "ambiguous": "多个候选（待复核）",
    "unmatched": "未匹配",
    "none": "未载明单位",
}
PRECISION_LABELS_ZH: dict[str, str] = {
    "point": "精确坐标点",
    "county": "区县代表点",
    "city": "地市代表点",
}
GEOCODE_METHOD_LABELS_ZH: dict[str, str] = {
    "coordinates": "原始坐标",
    "register": "登记库匹配",
    "address": "地址解析",
    "adcode": "行政区划代码",
}
FLAG_LABELS_ZH: dict[str, str] = {
    "bad_format": "格式错误",
    "bad_check": "校验位错误",
}
REJECT_REASON_LABELS_ZH: dict[str, str] = {
    "missing_required": "缺少必填项",
    "bad_date": "日期无效",
    "bad_coordinates": "坐标无效",
    "duplicate_id": "编号重复",
    "bad_amount": "金额无效",
    "bad_number": "数值无效",
    "bad_value": "取值无效",
    "bad_credit_code": "信用代码无效",
    "unlocatable": "无法定位",
    "unknown_adcode": "行政区划代码不存在",
    "malformed_row": "行格式错误",
    "not_a_point": "非点要素",
    "outside_jurisdiction": "超出本辖区",
}
LEVEL_LABELS_ZH: dict[str, str] = {"province": "省级", "city": "地市级", "county": "区县级"}

#: Section titles, in the report's order (the page's headings, the workbook's sheet names).
SECTION_TITLES_ZH: dict[str, str] = {
    "links": "关联方式",
    "precision": "定位精度",
    "credit_code_flags": "信用代码问题",
    "rejects": "拒收原因",
    "duplicate_rows": "重复编号",
    "register_names": "登记重名",
    "stale": "过期登记",
    "reviews": "待复核关联",
}
SUMMARY_TITLE_ZH = "报告说明"
REPORT_TITLE_ZH = "数据质量报告"


def quality_labels_zh() -> dict[str, dict[str, str]]:
    """Every code the report uses with its Chinese label (the JSON's ``labels``)."""
    return {
        "sections": dict(SECTION_TITLES_ZH),
        "kinds": dict(KIND_LABELS_ZH),
        "link_methods": dict(LINK_METHOD_LABELS_ZH),
        "precisions": dict(PRECISION_LABELS_ZH),
        "geocode_methods": dict(GEOCODE_METHOD_LABELS_ZH),
        "credit_code_flags": dict(FLAG_LABELS_ZH),
        "reject_reasons": dict(REJECT_REASON_LABELS_ZH),
        "levels": dict(LEVEL_LABELS_ZH),
    }


def quality_json(report: Mapping[str, Any]) -> dict[str, Any]:
    """The report as its JSON document: its parts, its title and the Chinese labels."""
    return {"title": quality_title_zh(report), **report, "labels": quality_labels_zh()}


def quality_title_zh(report: Mapping[str, Any]) -> str:
    """``南宁市 数据质量报告`` or ``数据质量报告 第 12 批（行政处罚案件）``."""
    scope = report["scope"]
    if scope["type"] == "batch":
        kind = KIND_LABELS_ZH.get(scope["kind"], scope["kind"])
        return f"{REPORT_TITLE_ZH} 第 {scope['batch_id']} 批（{kind}）"
    place = scope.get("name") or scope.get("jurisdiction") or "全部辖区"
    return f"{place} {REPORT_TITLE_ZH}"


@dataclass(frozen=True)
class Table:
    """One part of the report laid out: a title, a note, column headers and rows."""

    key: str
    title: str
    headers: tuple[str, ...]
    rows: list[list[Any]]
    note: str = ""


def summary_rows(report: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """(label, value) pairs of the first sheet and the page's header: scope, version, time."""
    scope = report["scope"]
    rows: list[tuple[str, Any]] = [("报告", quality_title_zh(report))]
    if scope["type"] == "batch":
        rows += [
            ("范围", "导入批次"),
            ("批次编号", scope["batch_id"]),
            ("数据类型", KIND_LABELS_ZH.get(scope["kind"], scope["kind"])),
            ("文件", scope.get("source_name") or ""),
            ("读取行数", scope.get("rows")),
            ("接收行数", scope.get("accepted")),
            ("拒收行数", scope.get("rejected")),
            ("新增/更新", f"{scope.get('inserted')}/{scope.get('updated')}"),
            ("导入账号", scope.get("account") or "命令行"),
            ("导入辖区", scope.get("jurisdiction") or "全部"),
            ("导入完成时间", scope.get("finished_at") or ""),
        ]
    else:
        level = scope.get("level")
        rows += [
            ("范围", "辖区"),
            ("行政区划代码", scope.get("jurisdiction") or "全部"),
            ("辖区名称", scope.get("name") or "全部辖区"),
            ("级别", LEVEL_LABELS_ZH.get(level, level or "")),
        ]
    rows += [
        ("数据版本", report.get("data_version")),
        ("生成时间（UTC）", report.get("generated_at")),
        ("过期登记的定义", report["stale"]["definition"]),
    ]
    return rows


def _pct(share: float | None) -> str:
    return "" if share is None else f"{share * 100:.1f}%"


def _kind(kind: str) -> str:
    return KIND_LABELS_ZH.get(kind, kind)


def report_tables(report: Mapping[str, Any]) -> list[Table]:
    """The report's parts as tables, in order (:data:`SECTION_TITLES_ZH`)."""
    t = SECTION_TITLES_ZH
    links = [
        [
            _kind(kind),
            *(
                f"{part['by_method'].get(m, 0)}（{_pct(part['shares'].get(m))}）"
                for m in LINK_METHOD_LABELS_ZH
            ),
            part["records"],
            _pct(part["link_rate"]),
        ]
        for kind, part in report["links"].items()
    ]
    precision = [
        [
            _kind(kind),
            *(
                f"{part['by_precision'].get(p, 0)}（{_pct(part['shares'].get(p))}）"
                for p in PRECISION_LABELS_ZH
            ),
            *(part["by_method"].get(m, 0) for m in GEOCODE_METHOD_LABELS_ZH),
            part["records"],
        ]
        for kind, part in report["precision"].items()
    ]
    flags = report["credit_code_flags"]
    flag_counts = "；".join(
        _kind(kind)
        + "："
        + "、".join(f"{FLAG_LABELS_ZH[f]} {counts.get(f, 0)}" for f in FLAG_LABELS_ZH)
        for kind, counts in flags["by_kind"].items()
    )
    flag_rows: list[list[Any]] = []
    flag_rows += [
        [
            _kind(item["kind"]),
            item["record_id"],
            item["enterprise_name"] or "",
            item["credit_code"] or "",
            FLAG_LABELS_ZH.get(item["flag"], item["flag"]),
            item["adcode"] or "",
        ]
        for item in flags["items"]
    ]
    rejects = report["rejects"]
    reject_rows: list[list[Any]] = [
        ["合计", "", REJECT_REASON_LABELS_ZH.get(r, r), n] for r, n in rejects["by_reason"].items()
    ]
    for batch in rejects["batches"]:
        for reason, n in batch["by_reason"].items():
            reject_rows.append(
                [
                    f"第 {batch['batch_id']} 批",
                    _kind(batch["kind"]),
                    REJECT_REASON_LABELS_ZH.get(reason, reason),
                    n,
                ]
            )
    duplicates = report["duplicates"]
    duplicate_rows = [
        [
            row["batch_id"],
            row["row_number"],
            row["detail"] or "",
            "；".join(f"{k}={v}" for k, v in (row["values"] or {}).items()),
        ]
        for row in duplicates["rows"] or []
    ]
    names = duplicates["register_names"]
    name_rows = [
        [group["name_norm"], e["credit_code"], e["name"], e["adcode"] or "", e["batch_id"]]
        for group in names["items"]
        for e in group["entries"]
    ]
    stale = report["stale"]
    stale_rows = [
        [
            e["credit_code"],
            e["name"],
            e["adcode"] or "",
            e["batch_id"] if e["batch_id"] is not None else "",
            e["confirmed_at"] or "",
            e["newer_register_batch"],
        ]
        for e in stale["items"]
    ]
    reviews = report["reviews"]
    review_rows = [
        [
            _kind(item["kind"]),
            item["record_id"],
            item["enterprise_name"] or "",
            item["credit_code"] or "",
            item["adcode"] or "",
            rank,
            c.get("credit_code", ""),
            c.get("name", ""),
            c.get("score"),
            c.get("distance_km"),
        ]
        for item in reviews["items"]
        for rank, c in enumerate(item["candidates"] or [{}], start=1)
    ]
    return [
        Table(
            "links",
            t["links"],
            ("数据类型", *LINK_METHOD_LABELS_ZH.values(), "记录数", "关联率"),
            links,
            "关联率 = 信用代码、名称、模糊匹配的记录 ÷ 载明单位的记录；括号内为占全部记录的比例。",
        ),
        Table(
            "precision",
            t["precision"],
            (
                "数据类型",
                *PRECISION_LABELS_ZH.values(),
                *(f"定位方式：{v}" for v in GEOCODE_METHOD_LABELS_ZH.values()),
                "记录数",
            ),
            precision,
        ),
        Table(
            "credit_code_flags",
            t["credit_code_flags"],
            ("数据类型", "记录编号", "单位名称", "统一社会信用代码（原文）", "问题", "区县"),
            flag_rows,
            f"信用代码有问题的记录 {flags['count']} 条"
            + ("（仅列前若干条）" if flags["truncated"] else "")
            + (f"：{flag_counts}。" if flag_counts else "。"),
        ),
        Table(
            "rejects",
            t["rejects"],
            ("批次", "数据类型", "拒收原因", "行数"),
            reject_rows,
            f"拒收行合计 {rejects['total']} 行。"
            + (
                "辖区报告按批次统计：包括最后写入本辖区记录的批次和本辖区账号导入的批次，"
                "被拒收的行没有位置，计数为整个批次的。"
                if report["scope"]["type"] == "jurisdiction"
                else ""
            ),
        ),
        Table(
            "duplicate_rows",
            t["duplicate_rows"],
            ("批次", "行号", "说明", "原始内容"),
            duplicate_rows,
            f"文件中编号重复而拒收的行：{duplicates['duplicate_ids']} 行"
            + ("（辖区报告只计数，不列原始行）。" if duplicates["rows"] is None else "。"),
        ),
        Table(
            "register_names",
            t["register_names"],
            ("规范化名称", "统一社会信用代码", "单位名称", "区县", "批次"),
            name_rows,
            f"同一规范化名称对应多个信用代码：{names['count']} 组、{names['entries']} 条登记。",
        ),
        Table(
            "stale",
            t["stale"],
            ("统一社会信用代码", "单位名称", "区县", "所在批次", "最后确认时间", "更新的登记批次"),
            stale_rows,
            f"共 {stale['count']} 条。定义：最后写入该条目的批次"
            "早于覆盖其所在地的最新污染源登记批次（全部辖区或其区县、地市、省导入的批次），即最新登记文件未再确认该条目。",
        ),
        Table(
            "reviews",
            t["reviews"],
            (
                "数据类型",
                "记录编号",
                "单位名称",
                "信用代码（原文）",
                "区县",
                "候选序号",
                "候选信用代码",
                "候选单位名称",
                "匹配得分",
                "距离（千米）",
            ),
            review_rows,
            f"有多个登记条目同样符合、未自动关联的记录：{reviews['count']} 条，请逐条确认。",
        ),
    ]


def quality_to_xlsx(report: Mapping[str, Any]) -> bytes:
    """The report as a workbook: sheet 报告说明 (title, scope, data version and time), then
    one sheet per part with Chinese headers. Cells from files never run as formulas."""
    book = Workbook()
    first = book.active
    assert first is not None
    first.title = SUMMARY_TITLE_ZH
    first.append(["项目", "内容"])
    for label, value in summary_rows(report):
        first.append(safe_row([label, _cell(value)]))
    first.column_dimensions["A"].width = 18
    first.column_dimensions["B"].width = 80
    for cell in first["B"]:
        cell.alignment = Alignment(wrap_text=True)
    for table in report_tables(report):
        sheet = book.create_sheet(table.title)
        sheet.append([safe_cell(table.note)] if table.note else [""])
        sheet.append(list(table.headers))
        for cell in sheet[2]:
            cell.font = Font(bold=True)
        for row in table.rows:
            sheet.append(safe_row(_cell(v) for v in row))
        for index in range(len(table.headers)):
            sheet.column_dimensions[_column(index)].width = 18
        sheet.freeze_panes = "A3"
    return workbook_bytes(book)


def _cell(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float)):
        return value
    return json.dumps(value, ensure_ascii=False)


def _column(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


_CSS = """
body { font-family: "SimSun", "Songti SC", "Noto Serif CJK SC", serif; margin: 2em; }
h1 { font-size: 1.5em; text-align: center; }
h2 { font-size: 1.15em; margin-top: 1.5em; border-bottom: 1px solid #333; }
table { border-collapse: collapse; width: 100%; margin: 0.5em 0 1em; font-size: 0.9em; }
th, td { border: 1px solid #333; padding: 0.3em 0.5em; vertical-align: top; }
th { background: #eee; }
td.num { text-align: right; }
p.note { color: #333; font-size: 0.9em; }
p.empty { color: #666; }
@media print {
  body { margin: 0; }
  th { background: none; }
  tr { page-break-inside: avoid; }
  thead { display: table-header-group; }
  @page { size: A4 landscape; margin: 15mm; }
}
"""


def quality_to_html(report: Mapping[str, Any]) -> str:
    """The report as a printable page in Chinese, with no external assets: the scope, then
    one section per part."""
    esc = html.escape
    title = quality_title_zh(report)
    summary = "\n".join(
        f"<tr><th>{esc(label)}</th><td>{esc(_text(value))}</td></tr>"
        for label, value in summary_rows(report)
    )
    sections = []
    for table in report_tables(report):
        head = "".join(f"<th>{esc(h)}</th>" for h in table.headers)
        body = "\n".join("<tr>" + "".join(_td(v) for v in row) + "</tr>" for row in table.rows)
        content = (
            f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>"
            if table.rows
            else '<p class="empty">无。</p>'
        )
        note = f'<p class="note">{esc(table.note)}</p>' if table.note else ""
        sections.append(
            f'<section id="{esc(table.key)}">\n<h2>{esc(table.title)}</h2>\n{note}\n{content}\n'
            "</section>"
        )
    joined = "\n".join(sections)
    body = f"""<h1>{esc(title)}</h1>
<section id="summary">
<h2>{SUMMARY_TITLE_ZH}</h2>
<table>
{summary}
</table>
</section>
{joined}"""
    return printable_page(title, _CSS, body)


def _text(value: Any) -> str:
    return "" if value is None else str(_cell(value))


def _td(value: Any) -> str:
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    attribute = ' class="num"' if number else ""
    return f"<td{attribute}>{html.escape(_text(value))}</td>"
