"""Statistics ledgers over HTTP, checked against the store and the committed sample slice."""

from __future__ import annotations

import io

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from geo_service.api.app import create_app
from geo_service.core.settings import Settings
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


def test_ledger_as_xlsx(client: TestClient) -> None:
    response = client.get("/stats/cases.xlsx?group_by=type,quarter")
    assert response.status_code == 200
    sheet = pd.read_excel(io.BytesIO(response.content))
    assert list(sheet.columns[:2]) == ["type", "quarter"] and sheet["cases"].sum() == 3472


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
