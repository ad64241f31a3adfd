"""The inspection plan: within the days, equal to analytics' plan, accounts only, audited."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from typer.testing import CliRunner

from analytics.priority import inspection_plan, priority_areas
from geo_service.access.policy import read_audit
from geo_service.api.app import create_app
from geo_service.builds.risk_inputs import cell_scores, enterprise_scores, read_risk_records
from geo_service.cli import app as cli_app
from geo_service.core.settings import Settings, get_settings
from geo_service.planning.plans import PlanRequest, days_per_enterprise_of, plan_inspections
from tests.conftest import account_headers

CITY, COUNTY, NEIGHBOUR = "450100", "450102", "450103"
AS_OF = dt.date(2025, 12, 31)
COSTS = {"key": 1.5, "special": 1.0, "general": 0.5}


@pytest.mark.parametrize("days", [0, 3, 12.5, 40])
def test_plan_fits_the_days_and_equals_the_analytics_plan(
    built_sample_store: Engine, days: float
) -> None:
    engine = built_sample_store
    asked = PlanRequest(jurisdiction=CITY, inspector_days=days, days_per_enterprise=COSTS)
    plan, areas = plan_inspections(engine, asked, AS_OF)
    summary = plan.attrs["summary"]
    assert summary["days_used"] == plan["days"].sum() <= days
    # the same call made directly
    records = read_risk_records(engine, CITY, AS_OF)
    ents = enterprise_scores(engine, records, jurisdiction=CITY)
    direct_areas = priority_areas(cell_scores(engine, records, jurisdiction=CITY), ents)
    direct = inspection_plan(
        ents, inspector_days=days, days_per_enterprise=COSTS, areas=direct_areas
    )
    assert list(plan["credit_code"]) == list(direct["credit_code"])
    assert summary == direct.attrs["summary"]
    assert len(areas) == len(direct_areas) > 0
    assert (plan["area_id"] > 0).all()
    if days >= 12.5:  # at most half a day left: no general enterprise (0.5) would still fit
        assert summary["enterprises"] > 0
        assert days - summary["days_used"] < 0.5 or summary["candidates"] == len(plan)


def test_days_per_enterprise_parsing() -> None:
    assert days_per_enterprise_of("key=1.5,special=1,general=0.5") == COSTS
    assert days_per_enterprise_of("2") == 2.0 and days_per_enterprise_of(None) == 1.0
    for bad in ("key=abc", "0", "-1", "key=1,general=0", "nan"):
        with pytest.raises(ValueError, match="days per enterprise"):
            days_per_enterprise_of(bad)


@pytest.fixture(scope="module")
def client(built_sample_store: Engine) -> TestClient:
    url = built_sample_store.url.render_as_string(hide_password=False)
    return TestClient(create_app(Settings(database_url=url, rate_limit_per_minute=0)))


def test_plans_over_http(client: TestClient, built_sample_store: Engine) -> None:
    engine = built_sample_store
    query = f"/plans?jurisdiction={CITY}&inspector_days=20&days_per_enterprise=key=1.5,special=1,general=0.5"
    assert client.get(query).status_code == 401  # anonymous: plans name enterprises
    headers = account_headers(engine, "planner", CITY)
    answer = client.get(query, headers=headers)
    assert answer.status_code == 200, answer.text[:300]
    doc = answer.json()
    asked = PlanRequest(jurisdiction=CITY, inspector_days=20, days_per_enterprise=COSTS)
    plan, _ = plan_inspections(engine, asked, AS_OF)
    assert [e["credit_code"] for e in doc["enterprises"]] == list(plan["credit_code"])
    assert doc["days_used"] == pytest.approx(plan["days"].sum()) and doc["days_used"] <= 20
    assert doc["expected_findings"] == pytest.approx(plan["expected_findings"].sum())
    assert 0 < doc["share_of_expected_findings"] < 1 and doc["as_of"] == "2025-12-31"
    assert doc["planned_enterprises"] == len(doc["enterprises"]) == len(plan)
    assert doc["enterprises"][0]["name"] and doc["enterprises"][0]["reasons_zh"]
    by_area = pd.DataFrame(doc["enterprises"]).groupby("area_id")["days"].sum()
    assert {a["area_id"]: a["planned_days"] for a in doc["areas"]} == pytest.approx(
        by_area.to_dict()
    )
    entries = read_audit(engine, account=None, limit=20)
    assert any(e["action"] == "plan" and e["records"] == len(doc["enterprises"]) for e in entries)


def test_plans_are_scoped_and_bad_input_is_400(
    client: TestClient, built_sample_store: Engine
) -> None:
    headers = account_headers(built_sample_store, "inspector", COUNTY)
    own = client.get("/plans?inspector_days=5", headers=headers)
    assert own.status_code == 200 and own.json()["jurisdiction"] == COUNTY
    codes = {e["credit_code"] for e in own.json()["enterprises"]}
    assert (codes and all(c[2:8] == COUNTY or len(c) != 18 for c in codes)) or codes == set()
    outside = client.get(f"/plans?jurisdiction={NEIGHBOUR}&inspector_days=5", headers=headers)
    assert outside.status_code == 403
    for bad in (
        "inspector_days=-1",
        "inspector_days=abc",
        "",
        "inspector_days=5&resolution=12",
        "inspector_days=5&days_per_enterprise=key=x",
        "inspector_days=5&days_per_enterprise=key=1",
    ):  # general has no cost
        answer = client.get(f"/plans?{bad}", headers=headers)
        assert answer.status_code == 400, (bad, answer.text[:200])
        assert set(answer.json()) == {"code", "description"}


def test_cli_plan_writes_xlsx_and_json(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, built_sample_store: Engine
) -> None:
    url = built_sample_store.url.render_as_string(hide_password=False)
    monkeypatch.setenv("GEO_DATABASE_URL", url)
    get_settings.cache_clear()
    try:
        args = [
            "plan",
            "--jurisdiction",
            CITY,
            "--inspector-days",
            "10",
            "--days-per-enterprise",
            "key=1.5,special=1,general=0.5",
        ]
        result = CliRunner().invoke(cli_app, [*args, "--out", "plan.xlsx"])
        assert result.exit_code == 0, result.output
        summary = json.loads(result.stdout.strip().splitlines()[-1])
        assert summary["days_used"] <= 10 and summary["path"] == "plan.xlsx"
        sheets = pd.read_excel(workdir / "plan.xlsx", sheet_name=None)
        assert set(sheets) == {"enterprises", "areas", "summary"}
        assert len(sheets["enterprises"]) == summary["planned_enterprises"] > 0
        result = CliRunner().invoke(cli_app, [*args, "--out", "plan.json"])
        doc = json.loads((workdir / "plan.json").read_text("utf-8"))
        assert [e["credit_code"] for e in doc["enterprises"]] == list(
            sheets["enterprises"]["credit_code"]
        )
        bad = CliRunner().invoke(cli_app, [*args[:3], "--inspector-days", "-2"])
        assert bad.exit_code == 2
    finally:
        get_settings.cache_clear()
