"""The 双随机 draw over the store, the CLI and HTTP: quotas, exclusions, bytes, scope, audit."""

from __future__ import annotations

import io
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, insert, select
from typer.testing import CliRunner

from analytics.draw import seed_commitment
from analytics.errors import DrawError, StaffingError
from geo_service.access.policy import read_audit
from geo_service.api.app import create_app
from geo_service.cli import app as cli
from geo_service.core.errors import BadFilterError
from geo_service.core.filters import Filters
from geo_service.core.settings import Settings, get_settings
from geo_service.planning.draws import draw_id_for, make_draw, quarter_bounds
from geo_service.store.draws import DrawConflictError, read_draw
from geo_service.store.models import Inspector, InspectorExclusion
from geo_service.store.queries import read_frame
from tests.conftest import account_headers
from tests.geo_service.draw_store import copy_store, six_kind_store

CITY, COUNTY, NEIGHBOUR, OTHER_CITY_COUNTY = "450100", "450102", "450103", "450202"
QUARTER = "2025-Q1"
SETTINGS = Settings()


@pytest.fixture(scope="module")
def six(tmp_path_factory: pytest.TempPathFactory, divisions_gdf) -> Engine:  # type: ignore[no-untyped-def]
    """The sample slice with all six kinds (the roster and its exclusions among them)."""
    return six_kind_store(tmp_path_factory.mktemp("draws_six"), divisions_gdf)


@pytest.fixture
def own_copy(six: Engine, tmp_path: Path) -> Iterator[Engine]:
    """A copy of the six-kind store for a test that changes it."""
    engine = copy_store(six, tmp_path / "copy")
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def client(six: Engine) -> TestClient:
    url = six.url.render_as_string(hide_password=False)
    return TestClient(create_app(Settings(database_url=url)))


def _draw(engine: Engine, jurisdiction: str = CITY, seed: str = "s-1") -> dict[str, Any]:
    stored = make_draw(
        engine,
        jurisdiction=jurisdiction,
        quarter=QUARTER,
        seed=seed,
        settings=SETTINGS,
        created_by="test",
    )
    record: dict[str, Any] = json.loads(stored.record_json)
    return record


def test_quarter_bounds_and_ids() -> None:
    assert [d.isoformat() for d in quarter_bounds("2024-Q4")] == ["2024-10-01", "2024-12-31"]
    for bad in ("2025-Q5", "0000-Q1", "2025Q1", "2025-q1"):
        with pytest.raises(BadFilterError):
            quarter_bounds(bad)
    assert draw_id_for(COUNTY, QUARTER, "a") != draw_id_for(COUNTY, QUARTER, "b")
    assert len(draw_id_for(COUNTY, QUARTER, "a")) == 16


def test_quotas_are_met_exactly_on_the_stores_register(six: Engine) -> None:
    record = _draw(six)
    register = read_frame(
        six, "enterprises", Filters(jurisdiction=CITY), ["credit_code", "category", "lon"]
    ).dropna(subset=["lon"])
    population = register["category"].fillna("general").value_counts()
    inspections = read_frame(
        six,
        "inspections",
        Filters(jurisdiction=CITY, end=pd.Timestamp("2024-12-31").date()),
        ["enterprise_credit_code", "inspection_date"],
    )
    recent = set(
        inspections.loc[
            inspections["inspection_date"].astype(str) >= "2024-01-02", "enterprise_credit_code"
        ]
    )
    selected = pd.DataFrame(record["selected"])
    for stratum, share in {"key": 0.25, "special": 0.15, "general": 0.05}.items():
        counts = record["strata"][stratum]
        assert counts["population"] == population.get(stratum, 0)
        assert counts["quota"] == math.ceil(share * counts["population"])
        eligible = register[
            (register["category"].fillna("general") == stratum)
            & ~register["credit_code"].isin(recent)
        ]
        assert counts["eligible"] == len(eligible)
        assert counts["selected"] == counts["quota"] == (selected["stratum"] == stratum).sum()
        assert counts["shortfall"] == 0
    assert sum(c["quota"] for c in record["strata"].values()) == len(selected) > 20
    assert not set(selected["credit_code"]) & recent  # inspected within 365 days: not drawn
    assert record["parameters"]["risk_as_of"] == "2024-12-31"
    assert record["parameters"]["exclude_since"] == "2024-01-02"
    assert all(len(set(team)) == 2 for team in selected["inspectors"])


def test_no_officer_meets_an_enterprise_it_is_excluded_from(own_copy: Engine) -> None:
    first = pd.DataFrame(_draw(own_copy, seed="before")["selected"])
    # every officer of the first team is now excluded from every enterprise drawn, and
    # one officer from the whole register
    banned = {first["inspectors"][0][0], first["inspectors"][0][1]}
    register = read_frame(own_copy, "enterprises", Filters(jurisdiction=CITY), ["credit_code"])
    with own_copy.begin() as conn:
        officer = (
            conn.execute(
                select(Inspector.inspector_id)
                .where(Inspector.city_adcode == CITY, Inspector.active.is_(True))
                .order_by(Inspector.inspector_id.desc())
            )
            .scalars()
            .first()
        )
        existing = set(
            conn.execute(
                select(InspectorExclusion.inspector_id, InspectorExclusion.credit_code)
            ).all()
        )
        rows = [(o, c) for o in banned for c in first["credit_code"]]
        rows += [(officer, c) for c in register["credit_code"]]
        new = [{"inspector_id": o, "credit_code": c} for o, c in set(rows) - existing]
        conn.execute(insert(InspectorExclusion), new)
        pairs = set(
            conn.execute(
                select(InspectorExclusion.inspector_id, InspectorExclusion.credit_code)
            ).all()
        )
    record = _draw(own_copy, seed="after")
    assert record["parameters"]["conflict_exclusions"] >= len(new)
    drawn = [(i, e["credit_code"]) for e in record["selected"] for i in e["inspectors"]]
    assert len(drawn) == 2 * len(record["selected"])
    assert not set(drawn) & pairs
    assert officer not in {i for i, _ in drawn}


def test_an_enterprise_that_cannot_be_staffed_is_a_400(own_copy: Engine) -> None:
    with own_copy.begin() as conn:
        conn.execute(
            Inspector.__table__.update()
            .where(Inspector.adcode == COUNTY)
            .where(
                Inspector.inspector_id.notin_(
                    select(Inspector.inspector_id)
                    .where(Inspector.adcode == COUNTY)
                    .order_by(Inspector.inspector_id)
                    .limit(1)
                    .scalar_subquery()
                )
            )
            .values(active=False)
        )
    with pytest.raises(StaffingError, match="cannot staff"):
        _draw(own_copy, jurisdiction=COUNTY)
    url = own_copy.url.render_as_string(hide_password=False)
    client = TestClient(create_app(Settings(database_url=url)))
    answer = client.post(
        "/draws",
        json={"jurisdiction": COUNTY, "quarter": QUARTER, "seed": "x"},
        headers=account_headers(own_copy, "planner", COUNTY),
    )
    assert answer.status_code == 400
    assert answer.json()["code"] == "StaffingError"
    assert "fewer than 2" in answer.json()["description"]


def test_same_seed_same_bytes_another_seed_another_draw(
    six: Engine, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GEO_DATABASE_URL", six.url.render_as_string(hide_password=False))
    get_settings.cache_clear()
    runner = CliRunner()
    args = ["draw", "--jurisdiction", COUNTY, "--quarter", QUARTER, "--seed", "cli-seed"]
    first, second = runner.invoke(cli, args), runner.invoke(cli, args)
    other = runner.invoke(cli, [*args[:-1], "cli-seed-2"])
    get_settings.cache_clear()
    assert first.exit_code == second.exit_code == other.exit_code == 0, first.output
    assert first.stdout == second.stdout != other.stdout
    draw_id = draw_id_for(COUNTY, QUARTER, "cli-seed")
    stored = read_draw(six, draw_id)
    assert stored is not None and stored.created_by == "cli"
    assert first.stdout == stored.record_json + "\n"
    headers = account_headers(six, "planner", COUNTY)
    body = {"jurisdiction": COUNTY, "quarter": QUARTER, "seed": "cli-seed"}
    again = client.post("/draws", json=body, headers=headers)
    assert again.status_code == 200  # drawn before (by the CLI): the stored draw
    assert again.json()["draw_id"] == draw_id and again.json()["created_by"] == "cli"
    raw = client.get(f"/draws/{draw_id}.json", headers=headers)
    assert raw.content == stored.record_json.encode("utf-8")
    assert raw.headers["content-type"] == "application/json"
    new = client.post("/draws", json={**body, "seed": "api-seed"}, headers=headers)
    assert new.status_code == 201
    assert new.json()["record"]["selected"] != again.json()["record"]["selected"]


def test_a_changed_record_under_the_same_seed_is_a_conflict(own_copy: Engine) -> None:
    _draw(own_copy, jurisdiction=COUNTY, seed="once")
    with own_copy.begin() as conn:
        officer = conn.execute(
            select(Inspector.inspector_id)
            .where(Inspector.adcode == COUNTY, Inspector.active.is_(True))
            .limit(1)
        ).scalar_one()
        conn.execute(
            insert(InspectorExclusion),
            [{"inspector_id": officer, "credit_code": "91450102XXXXXXXXXX"}],
        )
    with pytest.raises(DrawConflictError):
        _draw(own_copy, jurisdiction=COUNTY, seed="once")
    url = own_copy.url.render_as_string(hide_password=False)
    answer = TestClient(create_app(Settings(database_url=url))).post(
        "/draws",
        json={"jurisdiction": COUNTY, "quarter": QUARTER, "seed": "once"},
        headers=account_headers(own_copy, "admin", COUNTY),
    )
    assert answer.status_code == 409 and answer.json()["code"] == "draw_conflict"


def test_a_seed_not_matching_its_commitment_is_refused(
    six: Engine, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    commitment = seed_commitment("published")
    with pytest.raises(DrawError, match="does not match"):
        make_draw(
            six,
            jurisdiction=COUNTY,
            quarter=QUARTER,
            seed="other",
            settings=SETTINGS,
            created_by="test",
            commitment=commitment,
        )
    answer = client.post(
        "/draws",
        json={
            "jurisdiction": COUNTY,
            "quarter": QUARTER,
            "seed": "other",
            "commitment": commitment,
        },
        headers=account_headers(six, "leader", COUNTY),
    )
    assert answer.status_code == 400 and "commitment" in answer.json()["description"]
    monkeypatch.setenv("GEO_DATABASE_URL", six.url.render_as_string(hide_password=False))
    get_settings.cache_clear()
    runner = CliRunner()
    made = runner.invoke(cli, ["draw", "--jurisdiction", COUNTY, "--quarter", QUARTER, "--commit"])
    committed = json.loads(made.stdout)
    refused = runner.invoke(
        cli,
        [
            "draw",
            "--jurisdiction",
            COUNTY,
            "--quarter",
            QUARTER,
            "--seed",
            "guess",
            "--commitment",
            committed["seed_commitment"],
        ],
    )
    accepted = runner.invoke(
        cli,
        [
            "draw",
            "--jurisdiction",
            COUNTY,
            "--quarter",
            QUARTER,
            "--seed",
            committed["seed"],
            "--commitment",
            committed["seed_commitment"],
        ],
    )
    get_settings.cache_clear()
    assert len(committed["seed"]) == 32
    assert committed["seed_commitment"] == seed_commitment(committed["seed"])
    assert refused.exit_code == 2 and "does not match" in refused.stderr
    assert accepted.exit_code == 0
    assert json.loads(accepted.stdout)["seed_commitment"] == committed["seed_commitment"]
    audit = read_audit(six, account="cli", limit=10)
    assert {"draw_commit", "draw"} <= {e["action"] for e in audit}


def test_scope_of_drawing_and_listing(six: Engine, client: TestClient) -> None:
    county_planner = account_headers(six, "planner", COUNTY)
    body = {"jurisdiction": NEIGHBOUR, "quarter": QUARTER, "seed": "scope"}
    assert client.post("/draws", json=body, headers=county_planner).status_code == 403
    made = {}
    for code, role, where in (
        (COUNTY, "planner", COUNTY),
        (NEIGHBOUR, "leader", CITY),
        (OTHER_CITY_COUNTY, "admin", "450000"),
    ):
        answer = client.post(
            "/draws", json={**body, "jurisdiction": code}, headers=account_headers(six, role, where)
        )
        assert answer.status_code == 201, answer.text
        made[code] = answer.json()["draw_id"]
    city = account_headers(six, "leader", CITY)
    listed = {d["jurisdiction"] for d in client.get("/draws", headers=city).json()["draws"]}
    assert {COUNTY, NEIGHBOUR} <= listed and all(j.startswith("4501") for j in listed)
    own = client.get("/draws", headers=county_planner).json()["draws"]
    assert {d["jurisdiction"] for d in own} == {COUNTY}
    assert client.get(f"/draws?jurisdiction={OTHER_CITY_COUNTY}", headers=city).status_code == 403
    assert client.get(f"/draws/{made[OTHER_CITY_COUNTY]}", headers=city).status_code == 403
    assert client.get(f"/draws/{made[NEIGHBOUR]}", headers=county_planner).status_code == 403
    assert client.get(f"/draws/{made[NEIGHBOUR]}", headers=city).status_code == 200
    assert client.get("/draws").status_code == 401
    assert client.get("/draws/nosuchdraw", headers=city).status_code == 404
    assert client.get(f"/draws/{made[COUNTY]}.pdf", headers=city).status_code == 404


@pytest.mark.parametrize(
    ("role", "may_draw"),
    [("admin", True), ("planner", True), ("leader", True), ("gis", False), ("inspector", False)],
)
def test_roles_inspectors_read_but_do_not_draw(
    six: Engine, client: TestClient, role: str, may_draw: bool
) -> None:
    headers = account_headers(six, role, COUNTY)
    answer = client.post(
        "/draws",
        json={"jurisdiction": COUNTY, "quarter": "2025-Q2", "seed": f"role-{role}"},
        headers=headers,
    )
    assert answer.status_code == (201 if may_draw else 403), answer.text
    _draw(six, COUNTY, seed="made-by-a-planner")  # one to read, whichever tests ran before
    listed = client.get("/draws", headers=headers)
    assert listed.status_code == 200 and listed.json()["draws"]
    draw_id = listed.json()["draws"][0]["draw_id"]
    assert client.get(f"/draws/{draw_id}", headers=headers).status_code == 200
    anonymous = client.post(
        "/draws", json={"jurisdiction": COUNTY, "quarter": "2025-Q2", "seed": "anon"}
    )
    assert anonymous.status_code == 401


def test_bad_bodies_are_400_never_422(six: Engine, client: TestClient) -> None:
    headers = account_headers(six, "admin", "450000")
    for body in (
        {"jurisdiction": COUNTY, "quarter": "2025-Q9", "seed": "s"},
        {"jurisdiction": "45", "quarter": QUARTER, "seed": "s"},
        {"jurisdiction": COUNTY, "quarter": QUARTER},
        {"jurisdiction": COUNTY, "quarter": QUARTER, "seed": "s", "extra": 1},
        {"jurisdiction": "999999", "quarter": QUARTER, "seed": "s"},
        {"jurisdiction": COUNTY, "quarter": "1900-Q1", "seed": "s"},
    ):
        answer = client.post("/draws", json=body, headers=headers)
        assert answer.status_code == 400, (body, answer.text)
        assert set(answer.json()) == {"code", "description"}


def test_every_draw_and_read_is_audited_and_files_hold_the_record(
    six: Engine, client: TestClient
) -> None:
    headers = account_headers(six, "planner", COUNTY)
    made = client.post(
        "/draws",
        json={"jurisdiction": COUNTY, "quarter": "2025-Q3", "seed": "audited"},
        headers=headers,
    ).json()
    draw_id, record = made["draw_id"], made["record"]
    workbook = client.get(f"/draws/{draw_id}.xlsx", headers=headers)
    page = client.get(f"/draws/{draw_id}.html", headers=headers)
    client.get(f"/draws/{draw_id}", headers=headers)
    sheet = openpyxl.load_workbook(io.BytesIO(workbook.content))["抽查结果"]
    rows = list(sheet.iter_rows(min_row=3, values_only=True))
    assert [r[2] for r in rows] == [e["credit_code"] for e in record["selected"]]
    assert next(iter(sheet.iter_rows(max_row=1, values_only=True)))[0] == (
        "兴宁区 双随机抽查结果 2025年第三季度"
    )
    assert page.headers["content-type"].startswith("text/html")
    assert all(e["credit_code"] in page.text and e["name"] in page.text for e in record["selected"])
    assert made["record_digest"] in page.text
    account = next(e["account"] for e in read_audit(six, limit=1))
    actions = [(e["action"], e["resource"]) for e in read_audit(six, account=account)]
    assert actions == [
        ("draw_read", f"/draws/{draw_id}"),
        ("draw_read", f"/draws/{draw_id}.html"),
        ("draw_read", f"/draws/{draw_id}.xlsx"),
        ("draw", f"/draws/{draw_id}"),
    ]
    entry = read_audit(six, account=account)[-1]
    assert entry["records"] == len(record["selected"])
    assert entry["parameters"]["record_digest"] == made["record_digest"]


def test_the_draw_weighs_risk_with_the_settings_weights(own_copy: Engine) -> None:
    """GEO_RISK_WEIGHTS and GEO_RISK_TIERS reach the draw: its record names the weights
    and tier quantiles the risk scores were made with."""
    only_repeats = Settings(risk_weights={"repeat_offending": 1.0}, risk_tiers="0.8,0.5")
    default = make_draw(
        own_copy,
        jurisdiction=COUNTY,
        quarter=QUARTER,
        seed="w",
        settings=SETTINGS,
        created_by="test",
    )
    weighted = make_draw(
        own_copy,
        jurisdiction=COUNTY,
        quarter="2025-Q2",
        seed="w",
        settings=only_repeats,
        created_by="test",
    )
    risk = json.loads(weighted.record_json)["parameters"]["risk"]
    assert risk["weights"] == {"repeat_offending": 1.0}
    assert [t["quantile"] for t in risk["tiers"].values()][:2] == [0.8, 0.5]
    assert json.loads(default.record_json)["parameters"]["risk"]["weights"] != risk["weights"]
