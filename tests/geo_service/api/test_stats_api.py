"""Statistics ledgers over HTTP, checked against the store and the committed sample slice."""

from __future__ import annotations

import datetime as dt
import io
import json
from typing import Any

import openpyxl
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from geo_service.api.app import create_app
from geo_service.core.settings import Settings
from geo_service.store.queries import data_version
from tests.conftest import SampleStore, account_headers


@pytest.fixture
def client(sample_store: SampleStore) -> TestClient:
    url = sample_store.engine.url.render_as_string(hide_password=False)
    client = TestClient(
        create_app(Settings(database_url=url)), headers=account_headers(sample_store.engine)
    )
    client.engine = sample_store.engine  # type: ignore[attr-defined]
    return client


def test_case_ledger_by_city_matches_the_store(client: TestClient) -> None:
    body = client.get("/stats/cases?group_by=city").json()
    with client.engine.connect() as conn:  # type: ignore[attr-defined]
        expected = pd.read_sql(
            text(
                "SELECT city_adcode, count(*) AS n, sum(penalty_amount) AS s"
                " FROM cases GROUP BY city_adcode"
            ),
            conn,
        )
    rows = {r["city"]: r for r in body["rows"]}
    assert len(rows) == 14 and sum(r["cases"] for r in rows.values()) == expected["n"].sum()
    assert rows["柳州市"]["cases"] == expected.set_index("city_adcode").loc["450200", "n"]
    assert rows["柳州市"]["penalty_sum"] == pytest.approx(
        expected.set_index("city_adcode").loc["450200", "s"]
    )
    assert all(0 <= r["execution_rate"] <= 1 for r in rows.values())


def test_inspection_ledger_by_county_and_year_with_filters(client: TestClient) -> None:
    body = client.get(
        "/stats/inspections?group_by=county,year&jurisdiction=450100&period=2024"
    ).json()
    assert {r["year"] for r in body["rows"]} == {"2024"}
    assert body["filters"] == {"jurisdiction": "450100", "period": "2024"}
    assert all(r["problems_found"] <= r["inspections"] for r in body["rows"])
    assert body["rows"] and all(r["county"] for r in body["rows"])


def _workbook(client: TestClient, url: str) -> tuple[dict[str, Any], list[list[Any]]]:
    """The 说明 sheet as {key: value} (its title under 标题) and the ledger's rows."""
    response = client.get(url)
    assert response.status_code == 200, response.text
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    about, ledger = book.worksheets
    assert about.title == "说明"
    cover: dict[str, Any] = {
        str(r[0]): r[1] for r in about.iter_rows(min_row=3, values_only=True) if r[0]
    }
    cover["A1"] = about["A1"].value
    return cover, [list(r) for r in ledger.iter_rows(values_only=True)]


def _column(rows: list[list[Any]], head: str) -> list[Any]:
    return [r[rows[0].index(head)] for r in rows[1:]]


def test_ledger_as_xlsx_in_chinese_with_totals_and_a_cover(client: TestClient) -> None:
    """A first sheet saying what it is, then Chinese heads, and 合计 the sums of the
    columns above it (its rate recomputed from them)."""
    cover, rows = _workbook(client, "/stats/cases.xlsx?group_by=type,quarter")
    assert cover["A1"] == cover["标题"] == "行政处罚案件统计台账（按违法类型/问题类别、季度）"
    assert cover["筛选条件"] == "无（全部数据）" and cover["视图"] == "账号视图（未扰动）"
    assert cover["数据版本"] == data_version(client.engine)
    made = dt.datetime.strptime(cover["生成时间"][:19], "%Y-%m-%d %H:%M:%S")
    assert (
        abs((made - dt.datetime.now(dt.UTC).replace(tzinfo=None)).total_seconds() - 8 * 3600) < 600
    )
    assert json.loads(cover["来源 provenance"])["group_by"] == ["type", "quarter"]
    assert {"cases", "penalty_sum", "execution_rate"} <= set(cover.values())  # English names
    assert rows[0] == [
        "违法类型/问题类别",
        "季度",
        "案件数（件）",
        "罚款金额合计（元）",
        "已执行案件数（件）",
        "执行率",
    ]
    body, total = rows[1:-1], rows[-1]
    assert total[:2] == ["合计", None] and all(r[0] != "合计" for r in body)
    cases, penalties, executed = (_column(rows, h)[:-1] for h in rows[0][2:5])
    assert total[2] == sum(cases) == 3472 and total[4] == sum(executed)
    assert total[3] == pytest.approx(sum(penalties))
    assert total[5] == round(sum(executed) / sum(cases), 4)


def test_ledger_by_industry_names_each_class(client: TestClient) -> None:
    url = "/stats/inspections.xlsx?group_by=industry&jurisdiction=450100&period=2024"
    cover, rows = _workbook(client, url)
    assert cover["筛选条件"] == "行政区划代码：南宁市 450100；时段：2024"
    assert cover["A1"] == "现场检查统计台账（按行业代码）"
    assert rows[0][:4] == ["行业代码", "行业名称", "检查次数（次）", "发现问题次数（次）"]
    named = {r[0]: r[1] for r in rows[1:-1] if r[0]}  # and records without a code
    assert named["E4710"] == "住宅房屋建筑" and named["C1340"] == "制糖业"
    assert all(named.values())  # every class of the sample has its GB/T 4754 name
    body = client.get(url.replace(".xlsx", "")).json()
    assert {r["industry"]: r["industry_name"] for r in body["rows"] if r["industry"]} == named
    assert (
        rows[-1][2]
        == sum(r["inspections"] for r in body["rows"])
        == sum(_column(rows, "检查次数（次）")[:-1])
    )
    assert body["data_version"] == cover["数据版本"]


def test_public_ledger_totals_what_it_shows(sample_store: SampleStore) -> None:
    url = sample_store.engine.url.render_as_string(hide_password=False)
    anonymous = TestClient(create_app(Settings(database_url=url)))
    cover, rows = _workbook(anonymous, "/stats/cases.xlsx?group_by=industry,year")
    assert cover["视图"].startswith("公开视图")
    shown = [v for v in _column(rows, "案件数（件）")[:-1] if v is not None]
    assert rows[-1][0] == "合计" and rows[-1][rows[0].index("案件数（件）")] == sum(shown)


@pytest.mark.parametrize("url", ["/stats/cases?group_by=colour", "/stats/fines?group_by=city"])
def test_bad_ledgers_get_a_json_reason(client: TestClient, url: str) -> None:
    response = client.get(url)
    assert response.status_code in (400, 404) and "description" in response.json()


def test_commonalities_ledger_tests_each_industry_with_enough_records(client: TestClient) -> None:
    """共性与差异 per industry: housing construction's dust type stands out (Fisher, FDR);
    counties with too few typed records are one untested row each."""
    counties = pd.DataFrame(client.get("/stats/commonalities?group_by=county").json()["rows"])
    few = counties[counties["status"] == "too_few_records"]
    assert len(few) and (few["records"] < 30).all() and few.groupby("county").size().eq(1).all()
    assert few["problem_type"].isna().all() and few["q"].isna().all()
    assert (counties.loc[counties["status"] == "tested", "records"] >= 30).all()
    body = client.get("/stats/commonalities?group_by=industry").json()
    rows = pd.DataFrame(body["rows"])
    assert body["group_by"] == ["industry"]
    tested = rows[rows["status"] == "tested"]
    assert (tested["records"] >= 30).all()
    distinctive = tested[tested["distinctive"].astype(bool)]
    assert len(distinctive) and (distinctive["q"] <= 0.05).all()
    construction = distinctive[distinctive["industry"] == "E4710"]
    assert construction["problem_type"].str.startswith("扬尘污染防治违法").any()
    assert not tested["common"].astype(bool).any()  # no type is found in every industry
    assert counties["common"].astype(bool).any()  # but some are in every tested county
    for group_by in ("county,year", "month"):
        answer = client.get(f"/stats/commonalities?group_by={group_by}")
        assert answer.status_code == 400 and "one of county, city, industry" in answer.text
    sheet = pd.read_excel(
        io.BytesIO(client.get("/stats/commonalities.xlsx?group_by=city").content),
        sheet_name="commonalities",
    )
    assert {"city", "problem_type", "p", "q", "distinctive", "common"} <= set(sheet.columns)
    assert sheet["city"].nunique() == 14
