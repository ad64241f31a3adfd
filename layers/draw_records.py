"""A draw record (:func:`analytics.draw.draw_record`) as a workbook and a printable page.

Both are in Chinese, for the bureau's files: the drawn enterprises with their
supervision category, risk score, risk reasons and officers; and the draw's
parameters, seed, seed commitment and the SHA-256 digest of the record's canonical
bytes, by which anyone holding the JSON record can check the paper copy.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font

from analytics.draw_records import record_digest
from layers.labels import REASON_LABELS_ZH, STRATUM_LABELS_ZH
from layers.printable import printable_page, workbook_bytes
from layers.spreadsheets import safe_cell, safe_row

#: Columns of the enterprises sheet and table.
HEADERS = (
    "序号",
    "监管类别",
    "统一社会信用代码",
    "单位名称",
    "风险得分",
    "抽中概率",
    "风险原因",
    "最近检查日期",
    "执法人员",
)
_QUARTERS = {"1": "第一季度", "2": "第二季度", "3": "第三季度", "4": "第四季度"}


def quarter_label_zh(quarter: str) -> str:
    """``2025-Q1`` as ``2025年第一季度`` (anything else unchanged).

    Examples
    --------
    >>> quarter_label_zh("2025-Q1"), quarter_label_zh("2025")
    ('2025年第一季度', '2025')
    """
    year, _, part = quarter.partition("-Q")
    return f"{year}年{_QUARTERS[part]}" if part in _QUARTERS else quarter


def draw_title_zh(record: Mapping[str, Any], jurisdiction_name: str | None = None) -> str:
    """``双随机抽查结果 2025年第一季度`` (with the jurisdiction's name first when given)."""
    quarter = quarter_label_zh(str(record.get("parameters", {}).get("quarter", "")))
    return " ".join(p for p in (jurisdiction_name, "双随机抽查结果", quarter) if p)


def enterprise_rows(record: Mapping[str, Any]) -> list[list[Any]]:
    """One row per drawn enterprise, in draw order, under :data:`HEADERS`."""
    rows = []
    for entry in record["selected"]:
        officers = [
            f"{name}（{code}）" if name else code
            for code, name in zip(entry["inspectors"], entry["inspector_names"], strict=True)
        ]
        rows.append(
            [
                entry["draw_order"],
                STRATUM_LABELS_ZH.get(entry["stratum"], entry["stratum"]),
                entry["credit_code"],
                entry["name"],
                entry["weight"],
                entry["probability"],
                "、".join(REASON_LABELS_ZH.get(r, r) for r in entry["reasons"]),
                entry["last_inspected"] or "",
                "、".join(officers),
            ]
        )
    return rows


def parameter_rows(record: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """(label, value) pairs of the draw's parameters, seed, commitment and digest."""
    params = record["parameters"]
    given = params.get("quotas", {})
    quotas = "，".join(f"{STRATUM_LABELS_ZH.get(s, s)} {given[s]:.0%}" for s in _in_order(given))
    rows: list[tuple[str, Any]] = [
        ("辖区行政区划代码", params.get("jurisdiction", "")),
        ("季度", quarter_label_zh(str(params.get("quarter", "")))),
        ("风险评分截止日", params.get("risk_as_of", "")),
        ("抽查比例", quotas),
        ("近期已检查不抽取（检查日期不早于）", params.get("exclude_since") or "无"),
        ("每组执法人员数", params.get("team_size", "")),
        ("在岗执法人员数", params.get("roster_size", "")),
        ("回避关系数", params.get("conflict_exclusions", "")),
        ("数据版本", record.get("data_version", "")),
        ("随机种子", record["seed"]),
        ("种子承诺 SHA-256", record["seed_commitment"]),
        ("记录摘要 SHA-256", record_digest(record)),
        ("记录格式", record.get("format", "")),
    ]
    strata = record.get("strata", {})
    for stratum in _in_order(strata):
        counts, label = strata[stratum], STRATUM_LABELS_ZH.get(stratum, stratum)
        rows.append(
            (
                f"{label}：总数/可抽/应抽/抽中/不足",
                "/".join(
                    str(counts[k])
                    for k in ("population", "eligible", "quota", "selected", "shortfall")
                ),
            )
        )
    return rows


def _in_order(strata: Mapping[str, Any]) -> list[str]:
    """Strata as the draw takes them: key, special, general, then any other, sorted."""
    return [s for s in STRATUM_LABELS_ZH if s in strata] + sorted(
        set(strata) - set(STRATUM_LABELS_ZH)
    )


def draw_to_xlsx(record: Mapping[str, Any], jurisdiction_name: str | None = None) -> bytes:
    """The record as a workbook: sheet 抽查结果 (one row per enterprise, a 监管类别 column)
    and sheet 抽查参数 (parameters, seed, commitment and the record's digest)."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "抽查结果"
    sheet.append([safe_cell(draw_title_zh(record, jurisdiction_name))])
    sheet.append(list(HEADERS))
    for cell in sheet[2]:
        cell.font = Font(bold=True)
    for row in enterprise_rows(record):
        sheet.append(safe_row(row))  # names and officers from files: never a live formula
    for column, width in zip("ABCDEFGHI", (6, 14, 22, 32, 10, 10, 28, 14, 40), strict=True):
        sheet.column_dimensions[column].width = width
    sheet.freeze_panes = "A3"
    params = book.create_sheet("抽查参数")
    params.append(["项目", "内容"])
    for label, value in parameter_rows(record):
        params.append(safe_row([label, value]))
    params.column_dimensions["A"].width = 36
    params.column_dimensions["B"].width = 70
    for cell in params["B"]:
        cell.alignment = Alignment(wrap_text=True)
    return workbook_bytes(book)


_CSS = """
body { font-family: "SimSun", "Songti SC", "Noto Serif CJK SC", serif; margin: 2em; }
h1 { font-size: 1.5em; text-align: center; }
table { border-collapse: collapse; width: 100%; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #333; padding: 0.3em 0.5em; vertical-align: top; }
th { background: #eee; }
td.num { text-align: right; }
.hash { font-family: monospace; word-break: break-all; }
.sign { margin-top: 3em; display: flex; justify-content: space-between; }
@media print {
  body { margin: 0; }
  th { background: none; }
  tr { page-break-inside: avoid; }
  thead { display: table-header-group; }
  @page { size: A4 landscape; margin: 15mm; }
}
"""


def draw_to_html(record: Mapping[str, Any], jurisdiction_name: str | None = None) -> str:
    """The record as a printable page (no external assets): title, the enterprises and
    their officers, then the parameters, seed, commitment and digest."""
    esc = html.escape
    title, seed = draw_title_zh(record, jurisdiction_name), esc(record["seed"])
    head = "".join(f"<th>{esc(h)}</th>" for h in HEADERS)
    body = "\n".join(
        "<tr>" + "".join(_cell(i, v) for i, v in enumerate(row)) + "</tr>"
        for row in enterprise_rows(record)
    )
    params = "\n".join(
        f"<tr><th>{esc(label)}</th><td{_hash_class(label)}>{esc(str(value))}</td></tr>"
        for label, value in parameter_rows(record)
    )
    body = f"""<h1>{esc(title)}</h1>
<p>共抽取 {len(record["selected"])} 家单位。随机种子：<span class="hash">{seed}</span></p>
<table>
<thead><tr>{head}</tr></thead>
<tbody>
{body}
</tbody>
</table>
<h2>抽查参数与校验</h2>
<table>
{params}
</table>
<div class="sign"><span>抽查人：</span><span>监督人：</span><span>日期：</span></div>"""
    return printable_page(title, _CSS, body)


def _cell(index: int, value: Any) -> str:
    if isinstance(value, float):
        return f'<td class="num">{value:.4f}</td>'
    attribute = ' class="num"' if index == 0 else ""
    return f"<td{attribute}>{html.escape(str(value))}</td>"


def _hash_class(label: str) -> str:
    return ' class="hash"' if ("SHA-256" in label or "种子" in label) else ""
