"""A draw record as a workbook and a printable page: every enterprise, officer and hash."""

from __future__ import annotations

import datetime as dt
import io
import json
from typing import Any

import openpyxl
import pandas as pd
import pytest

from analytics.draw import record_bytes, record_digest, run_draw
from layers.draw_records import (
    HEADERS,
    draw_title_zh,
    draw_to_html,
    draw_to_xlsx,
    quarter_label_zh,
)


@pytest.fixture(scope="module")
def record() -> dict[str, Any]:
    """A draw of 12 made-up enterprises (4 per stratum) by 5 officers, as stored (JSON)."""
    enterprises = pd.DataFrame(
        {
            "credit_code": [f"9145010200000000{i:02d}" for i in range(12)],
            "name": [f"南宁<测试>企业{i}" for i in range(12)],
            "category": ["key"] * 4 + ["special"] * 4 + ["general"] * 4,
            "weight": [0.1 * (i + 1) for i in range(12)],
            "reasons": [["repeat_offending", "hotspot"]] * 12,
            "last_inspected": [pd.NaT] * 11 + [pd.Timestamp("2023-05-06")],
        }
    )
    roster = pd.DataFrame(
        {
            "inspector_id": [f"HJ{i}" for i in range(5)],
            "name": ["张三", "李四", "王五", "赵六", "钱七"],
        }
    )
    made = run_draw(
        enterprises,
        roster,
        quotas={"key": 0.5, "special": 0.25, "general": 0.25},
        exclude_since=dt.date(2024, 1, 1),
        seed="s1",
        context={"data_version": 3, "quarter": "2025-Q1", "jurisdiction": "450102"},
    )
    stored: dict[str, Any] = json.loads(record_bytes(made))
    return stored


def test_quarter_and_title_in_chinese(record: dict[str, Any]) -> None:
    assert quarter_label_zh("2025-Q4") == "2025年第四季度"
    assert draw_title_zh(record) == "双随机抽查结果 2025年第一季度"
    assert draw_title_zh(record, "兴宁区") == "兴宁区 双随机抽查结果 2025年第一季度"


def test_workbook_rows_and_parameters(record: dict[str, Any]) -> None:
    book = openpyxl.load_workbook(io.BytesIO(draw_to_xlsx(record, "兴宁区")))
    assert book.sheetnames == ["抽查结果", "抽查参数"]
    rows = list(book["抽查结果"].iter_rows(values_only=True))
    assert rows[0][0] == "兴宁区 双随机抽查结果 2025年第一季度"
    assert rows[1] == HEADERS
    body = rows[2:]
    assert len(body) == len(record["selected"]) == 2 + 1 + 1  # ceil(.5·4), ceil(.25·4) ×2
    assert [r[0] for r in body] == [1, 2, 3, 4]
    assert [r[1] for r in body] == ["重点排污单位", "重点排污单位", "特殊监管对象", "一般排污单位"]
    for row, entry in zip(body, record["selected"], strict=True):
        assert row[2] == entry["credit_code"] and row[3] == entry["name"]
        assert row[4] == pytest.approx(entry["weight"])
        assert row[6] == "重复违法、热点"
        for code, name in zip(entry["inspectors"], entry["inspector_names"], strict=True):
            assert f"{name}（{code}）" in row[8]
    params = dict(book["抽查参数"].iter_rows(min_row=2, values_only=True))
    assert params["随机种子"] == "s1"
    assert params["种子承诺 SHA-256"] == record["seed_commitment"]
    assert params["记录摘要 SHA-256"] == record_digest(record)
    assert params["抽查比例"] == "重点排污单位 50%，特殊监管对象 25%，一般排污单位 25%"
    assert params["重点排污单位：总数/可抽/应抽/抽中/不足"] == "4/4/2/2/0"
    assert params["数据版本"] == 3


def test_printable_page_holds_every_enterprise_and_no_external_asset(
    record: dict[str, Any],
) -> None:
    page = draw_to_html(record, "兴宁区")
    assert "<title>兴宁区 双随机抽查结果 2025年第一季度</title>" in page
    for entry in record["selected"]:
        assert entry["credit_code"] in page
        assert entry["name"].replace("<", "&lt;").replace(">", "&gt;") in page
        assert all(name in page for name in entry["inspector_names"])
    assert "<测试>" not in page  # names are escaped
    assert page.count("<tr><td") == len(record["selected"])
    assert record["seed_commitment"] in page and record_digest(record) in page
    assert "@media print" in page
    assert "http" not in page and "src=" not in page and "<link" not in page


def test_names_that_start_like_formulas_open_as_text(record: dict[str, Any]) -> None:
    hostile = json.loads(json.dumps(record))
    hostile["selected"][0]["name"] = '=HYPERLINK("http://evil.example","点此")'
    hostile["seed"] = "@SUM(1)"
    book = openpyxl.load_workbook(io.BytesIO(draw_to_xlsx(hostile)))
    names = [row[3] for row in book["抽查结果"].iter_rows(min_row=3, values_only=True)]
    assert (
        names[0] == "'" + hostile["selected"][0]["name"]
        and names[1] == record["selected"][1]["name"]
    )
    seed = next(r for r in book["抽查参数"].iter_rows(values_only=True) if r[0] == "随机种子")
    assert seed[1] == "'@SUM(1)"
    cells = [c for s in book.worksheets for row in s.iter_rows() for c in row]
    assert all(c.data_type != "f" for c in cells)
