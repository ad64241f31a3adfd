"""Linkage on the sample's truth: every located kind ingested as a bureau would load it.

The generator plants codes on a quarter of the coordinate rows, name variants a
normaliser evens out and harder ones only a fuzzy match with distance can link,
namesakes ("twins") that only a place tells apart, and codes with a wrong check
character; ``truth_links.csv`` says which enterprise each record concerns.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import Engine, select, update

from geo_service.core.filters import Filters
from geo_service.core.paths import SAMPLE_SLICE
from geo_service.ingest import IngestOptions, ingest_file
from geo_service.linkage.register import load_register_index
from geo_service.linkage.relink import RECORD_IDS, relink
from geo_service.store.db import make_engine
from geo_service.store.models import LINKED_TABLES, Enterprise, LinkReview, PenaltyCase
from geo_service.store.queries import read_frame
from tests.conftest import _prepared

KINDS = ("enterprises", "cases", "inspections", "exceedances", "complaints", "projects")
TODAY = dt.date(2026, 11, 28)


@pytest.fixture(scope="module")
def linked(tmp_path_factory: pytest.TempPathFactory, divisions_gdf: Any) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("linked_sample")
    engine = _prepared(make_engine(f"sqlite:///{out / 'geo.db'}"), divisions_gdf)
    summaries = {}
    for kind in KINDS:
        options = IngestOptions(
            kind=kind, rejects_path=out / f"{kind}.csv", progress=False, today=TODAY
        )
        summaries[kind] = ingest_file(engine, SAMPLE_SLICE / f"{kind}.csv", options)
    return {"engine": engine, "summaries": summaries, "rejects": out}


def _stored_links(engine: Engine, kind: str) -> pd.DataFrame:
    table = LINKED_TABLES[kind].__table__  # type: ignore[attr-defined]
    columns = ["enterprise_credit_code", "link_method", "link_score", "credit_code_flag"]
    query = select(table.c[RECORD_IDS[kind]], *(table.c[c] for c in columns))
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return pd.DataFrame(rows, columns=["record_id", *columns])


def _truth() -> pd.DataFrame:
    return pd.read_csv(SAMPLE_SLICE / "truth_links.csv", dtype=str, keep_default_na=False)


def _truth_json() -> dict[str, Any]:
    return json.loads((SAMPLE_SLICE / "truth.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("kind", [k for k in KINDS if k != "enterprises"])
def test_links_are_precise_and_complete_against_the_truth(
    linked: dict[str, Any], kind: str
) -> None:
    truth = _truth()
    truth = truth[truth["kind"] == kind]
    got = truth.merge(_stored_links(linked["engine"], kind), on="record_id", how="left")
    assert len(got) == len(truth) > 0 and got["link_method"].notna().sum() > 0
    is_linked = got["enterprise_credit_code"].notna()
    right = is_linked & got["enterprise_credit_code"].eq(got["credit_code"])
    expected = got["expected"].eq("link")
    precision = right.sum() / is_linked.sum()
    recall = (right & expected).sum() / expected.sum()
    assert precision >= 0.995, got[is_linked & ~right][["record_id", "planted", "link_method"]]
    assert recall >= 0.97, got[expected & ~right][["record_id", "planted", "link_method"]]
    # records several entries fit are never linked, and are listed for review
    ambiguous = got["expected"].eq("ambiguous")
    assert not (ambiguous & is_linked).any()
    assert got.loc[ambiguous, "link_method"].eq("ambiguous").all()
    with linked["engine"].connect() as conn:
        reviewed = set(
            conn.execute(select(LinkReview.record_id).where(LinkReview.kind == kind)).scalars()
        )
    assert set(got.loc[ambiguous, "record_id"]) <= reviewed
    # a record naming no enterprise is not linked to one
    assert not (got["expected"].eq("none") & is_linked & got["credit_code"].eq("")).any()


def test_the_planted_hard_cases_link_by_the_step_meant_for_them(linked: dict[str, Any]) -> None:
    truth = _truth()
    got = pd.concat(
        truth[truth["kind"] == kind].merge(_stored_links(linked["engine"], kind), on="record_id")
        for kind in ("cases", "inspections")
    )
    by = got.groupby("planted")["link_method"].agg(lambda s: set(s))
    assert by["code"] == {"credit_code"}
    assert by["fuzzy_variant"] == {"fuzzy"}  # only name + distance finds them
    assert by["twin_near"] == {"name"}  # namesakes, told apart by distance
    assert by["twin_name_only"] == {"ambiguous"}
    assert by["variant"] <= {"name", "credit_code"}


def test_every_invalid_credit_code_is_caught(linked: dict[str, Any]) -> None:
    planted = _truth_json()["linkage"]["invalid_credit_codes"]
    assert planted
    register = [p for p in planted if p["file"] == "enterprises.csv"]
    rejects = pd.read_csv(linked["rejects"] / "enterprises.csv", dtype=str)
    rejected = rejects.loc[rejects["reason"] == "bad_credit_code", "row_number"].astype(int)
    assert sorted(rejected) == sorted(p["row_number"] for p in register)
    with linked["engine"].connect() as conn:
        stored = set(conn.execute(select(Enterprise.credit_code)).scalars())
    assert not stored & {p["code"] for p in register}
    flagged: dict[tuple[str, str], str] = {}
    for kind in ("cases", "inspections", "exceedances", "complaints", "projects"):
        links = _stored_links(linked["engine"], kind)
        links = links[links["credit_code_flag"].notna()]
        for record, flag in zip(links["record_id"], links["credit_code_flag"], strict=True):
            flagged[(kind, record)] = flag
    files = {f"{k}.csv": k for k in LINKED_TABLES}
    expected = {
        (files[p["file"]], p["record_id"]): p["reason"] for p in planted if p["file"] in files
    }
    assert flagged == expected


def test_the_industry_filter_counts_inspections_by_their_enterprise(linked: dict[str, Any]) -> None:
    cells = _truth_json()["inspection_industries"]
    assert sum(c["linked"] for c in cells) > 1000
    engine = linked["engine"]
    for cell in cells[::25]:  # a spread of cities, industries and years
        filters = Filters(
            jurisdiction=cell["city_adcode"], industry=cell["industry"], period=str(cell["year"])
        )
        frame = read_frame(engine, "inspections", filters, ["inspection_id", "inherited"])
        assert len(frame) == cell["linked"], cell
        assert frame["inherited"].str.contains("industry_code").all()


def test_relinking_an_unchanged_register_changes_nothing(linked: dict[str, Any]) -> None:
    with linked["engine"].begin() as conn:
        summary = relink(conn, load_register_index(conn))
    assert {kind: s["changed"] for kind, s in summary.items()} == dict.fromkeys(LINKED_TABLES, 0)
    assert summary["cases"]["records"] == linked["summaries"]["cases"]["accepted"]


def test_a_register_change_relinks_the_stored_records(
    linked: dict[str, Any], tmp_path: Path
) -> None:
    """A renamed entry loses its name-linked records to the review step or to nothing, and
    gets them back when the register is loaded again; code links do not move."""
    engine = linked["engine"]
    by_name = _stored_links(engine, "cases")
    by_name = by_name[by_name["link_method"] == "name"]
    code = by_name["enterprise_credit_code"].value_counts().index[0]
    records = set(by_name.loc[by_name["enterprise_credit_code"] == code, "record_id"])
    with engine.begin() as conn:
        conn.execute(
            update(Enterprise)
            .where(Enterprise.credit_code == code)
            .values(name="改名后的单位有限公司", name_norm="改名后的单位有限公司")
        )
        relink(conn, load_register_index(conn))
    after = _stored_links(engine, "cases").set_index("record_id")
    assert not (after.loc[sorted(records), "enterprise_credit_code"] == code).any()
    # the register file loaded again: the entry's name is back, and so are its links
    options = IngestOptions(kind="enterprises", progress=False, today=TODAY)
    summary = ingest_file(engine, SAMPLE_SLICE / "enterprises.csv", options)
    assert summary["relinked"]["cases"]["changed"] >= len(records)
    again = _stored_links(engine, "cases").set_index("record_id")
    assert (again.loc[sorted(records), "enterprise_credit_code"] == code).all()
    with engine.connect() as conn:
        inherited = conn.execute(
            select(PenaltyCase.supervision_category).where(PenaltyCase.case_id.in_(sorted(records)))
        ).scalars()
        assert all(v is not None for v in inherited)


def test_the_enterprise_file_lists_exactly_the_truths_records(linked: dict[str, Any]) -> None:
    """For sampled firms, the file's timeline holds the records the truth says concern the
    firm, no more, and its 未批先建 check agrees with the planted project dates."""
    from fastapi.testclient import TestClient

    from geo_service.api.app import create_app
    from geo_service.core.settings import Settings
    from tests.conftest import account_headers

    engine: Engine = linked["engine"]
    client = TestClient(create_app(Settings(database_url=str(engine.url), rate_limit_per_minute=0)))
    headers = account_headers(engine)
    truth = _truth()
    truth = truth[truth["expected"].eq("link")]
    unapproved = _truth_json()["linkage"]["projects"]["unapproved_cases"]
    firms = sorted({u["credit_code"] for u in unapproved})[:4]
    busiest = truth["credit_code"].value_counts().index[:4].tolist()
    checked = 0
    for code in dict.fromkeys(firms + busiest):
        answer = client.get(f"/enterprises/{code}", headers=headers)
        assert answer.status_code == 200, answer.text
        doc = answer.json()
        listed = sorted((e["kind"], str(e["id"])) for e in doc["timeline"])
        mine = truth[truth["credit_code"] == code]
        assert listed == sorted(zip(mine["kind"], mine["record_id"], strict=True)), code
        findings = {e["case_id"]: e["finding"] for e in doc["approval_evidence"]}
        for case in (u for u in unapproved if u["credit_code"] == code):
            if case["case_id"] in set(mine["record_id"]):
                assert findings[case["case_id"]] == case["approval"], case
                checked += 1
    assert checked >= 1
