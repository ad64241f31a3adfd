"""The data-quality report's numbers on a hand-built store: exact counts of every part.

The store (:func:`build_quality_store`) holds linked records with their link columns
filled directly, rejected rows, register entries loaded by several register batches,
and ambiguous links to review, in two counties of Nanning (兴宁区 450102, 青秀区 450103)
and one of Liuzhou (城中区 450202).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, delete, insert

from geo_service.core.errors import BadFilterError, NotFoundError
from geo_service.store.models import (
    Enterprise,
    IngestBatch,
    Inspection,
    LinkReview,
    PenaltyCase,
    Project,
    RejectedRow,
)
from geo_service.store.quality import batch_quality, jurisdiction_quality
from tests.conftest import _clear_records

XINGNING, QINGXIU, CHENGZHONG = "450102", "450103", "450202"
NANNING, LIUZHOU, GUANGXI = "450100", "450200", "450000"
CITY_OF = {XINGNING: NANNING, QINGXIU: NANNING, CHENGZHONG: LIUZHOU}
T0 = dt.datetime(2026, 3, 1, 8, 0, tzinfo=dt.UTC)

#: id → (kind, jurisdiction it was loaded for (None: the command line), rejects by reason)
BATCHES: dict[int, tuple[str, str | None, dict[str, int]]] = {
    1: ("enterprises", None, {}),
    2: ("cases", NANNING, {"duplicate_id": 3, "missing_required": 2, "bad_date": 1}),
    3: ("inspections", None, {"duplicate_id": 1}),
    4: ("enterprises", XINGNING, {}),
    5: ("cases", LIUZHOU, {"bad_coordinates": 1}),
}


def _place(adcode: str, precision: str = "point", method: str = "coordinates") -> dict[str, Any]:
    return {
        "lon": 108.3,
        "lat": 22.8,
        "geocode_method": method,
        "geocode_precision": precision,
        "h3_15": 644733369429966848,
        "adcode": adcode,
        "city_adcode": CITY_OF[adcode],
        "province_adcode": GUANGXI,
    }


def _link(method: str | None, code: str | None = None, flag: str | None = None) -> dict[str, Any]:
    linked = method in ("credit_code", "name", "fuzzy")
    return {
        "enterprise_name": None if method is None else f"单位{code or ''}",
        "credit_code": code,
        "enterprise_credit_code": code if linked else None,
        "link_method": method,
        "link_score": 1.0 if linked else None,
        "credit_code_flag": flag,
        "supervision_category": "key" if linked else None,
        "inherited": "industry_code,supervision_category" if linked else None,
    }


def _case(case_id: str, adcode: str, batch: int, precision: str, **link: Any) -> dict[str, Any]:
    return {
        "case_id": case_id,
        "decision_date": dt.date(2025, 5, 1),
        "batch_id": batch,
        **_place(adcode, precision),
        **link,
    }


def build_quality_store(engine: Engine) -> None:
    """Write the hand-built store (see the module docstring) into an empty store."""
    with engine.begin() as conn:
        for batch_id, (kind, jurisdiction, reasons) in BATCHES.items():
            finished = T0 + dt.timedelta(days=batch_id)
            rejected = sum(reasons.values())
            conn.execute(
                insert(IngestBatch).values(
                    id=batch_id,
                    kind=kind,
                    source_name=f"{kind}-{batch_id}.csv",
                    file_sha256=f"{batch_id:064d}",
                    rows=10 + rejected,
                    accepted=10,
                    rejected=rejected,
                    inserted=10,
                    updated=0,
                    by_method={},
                    by_reason=reasons,
                    started_at=finished - dt.timedelta(minutes=1),
                    finished_at=finished,
                    account=None if jurisdiction is None else f"admin-{jurisdiction}",
                    jurisdiction=jurisdiction,
                )
            )
            row = 2
            for reason, n in reasons.items():
                for _ in range(n):
                    detail = "also in row 1" if reason == "duplicate_id" else None
                    conn.execute(
                        insert(RejectedRow).values(
                            batch_id=batch_id,
                            row_number=row,
                            reason=reason,
                            detail=detail,
                            values={"案件编号": f"K{batch_id}-{row}", "当事人": "某单位"},
                        )
                    )
                    row += 1
        enterprises = [
            # code, name_norm, county, batch: 甲 twice in 兴宁区 (one not in register 4);
            # 乙 in 青秀区 and in Liuzhou; 丙 written before batches were kept
            ("91450102MA000001", "甲公司", XINGNING, 4),
            ("91450102MA000002", "甲公司", XINGNING, 1),
            ("91450103MA000003", "乙公司", QINGXIU, 1),
            ("91450202MA000004", "乙公司", CHENGZHONG, 1),
            ("91450103MA000005", "丙公司", QINGXIU, None),
        ]
        for code, name, county, batch in enterprises:
            conn.execute(
                insert(Enterprise).values(
                    credit_code=code,
                    name=name.replace("公司", "有限公司"),
                    name_norm=name,
                    batch_id=batch,
                    **_place(county, "point", "coordinates"),
                )
            )
        cases = [
            _case("C1", XINGNING, 2, "point", **_link("credit_code", "91450102MA000001")),
            _case("C2", XINGNING, 2, "point", **_link("name", "91450102MA000001")),
            _case("C3", QINGXIU, 2, "county", **_link("fuzzy", "91450103MA000003")),
            _case("C4", QINGXIU, 2, "city", **_link("ambiguous", "914501X", "bad_check")),
            _case("C5", XINGNING, 2, "point", **_link("unmatched", "ABC", "bad_format")),
            _case("C6", XINGNING, 2, "county", **_link(None)),
            _case("C7", CHENGZHONG, 5, "point", **_link("credit_code", "9X", "bad_format")),
        ]
        conn.execute(insert(PenaltyCase), cases)
        inspections = [
            {
                "inspection_id": inspection_id,
                "inspection_date": dt.date(2025, 6, 1),
                "batch_id": 3,
                **_place(XINGNING, "point"),
                **_link(method, "91450102MA000001" if method == "credit_code" else None),
            }
            for inspection_id, method in (("I1", "credit_code"), ("I2", "ambiguous"))
        ]
        conn.execute(insert(Inspection), inspections)
        conn.execute(
            insert(Project).values(
                project_id="P1",
                project_name="扩建项目",
                batch_id=None,
                **_place(QINGXIU, "county", "address"),
                **_link("name", "91450103MA000003"),
            )
        )
        reviews = [
            ("cases", "C4", QINGXIU, 2, ["91450103MA000003", "91450202MA000004"]),
            ("inspections", "I2", XINGNING, 3, ["91450102MA000001", "91450102MA000002"]),
            ("cases", "C9", CHENGZHONG, 5, ["91450202MA000004"]),
        ]
        for kind, record_id, county, batch, codes in reviews:
            conn.execute(
                insert(LinkReview).values(
                    kind=kind,
                    record_id=record_id,
                    enterprise_name="乙公司" if kind == "cases" else "甲公司",
                    credit_code=None,
                    adcode=county,
                    city_adcode=CITY_OF[county],
                    province_adcode=GUANGXI,
                    candidates=[
                        {"credit_code": c, "name": "候选", "score": 0.9, "distance_km": 1.5 * i}
                        for i, c in enumerate(codes)
                    ],
                    batch_id=batch,
                )
            )


def clear_reviews(engine: Engine) -> None:
    """The review list refers to batches: emptied before the store's records are."""
    with engine.begin() as conn:
        conn.execute(delete(LinkReview))


def fresh_quality_store(request: pytest.FixtureRequest) -> Iterator[Engine]:
    """The hand-built store on the backend ``request.param`` names. The review list is
    emptied first: an ingest elsewhere may have left one, which refers to batches the
    store's clearing (tests/conftest.py) deletes."""
    engine: Engine = request.getfixturevalue(f"{request.param}_store")
    clear_reviews(engine)
    _clear_records(engine)
    build_quality_store(engine)
    yield engine
    clear_reviews(engine)


BACKENDS = ["sqlite", pytest.param("postgis", marks=pytest.mark.postgis)]


@pytest.fixture(params=BACKENDS)
def quality_store(request: pytest.FixtureRequest) -> Iterator[Engine]:
    yield from fresh_quality_store(request)


def test_links_of_a_city_by_method_with_shares_and_rate(quality_store: Engine) -> None:
    report = jurisdiction_quality(quality_store, NANNING)
    assert report["scope"] == {
        "type": "jurisdiction",
        "jurisdiction": NANNING,
        "name": "南宁市",
        "level": "city",
    }
    assert report["data_version"] == 5
    cases = report["links"]["cases"]
    assert cases["by_method"] == {
        "credit_code": 1,
        "name": 1,
        "fuzzy": 1,
        "ambiguous": 1,
        "unmatched": 1,
        "none": 1,
    }
    assert (cases["records"], cases["named"], cases["linked"]) == (6, 5, 3)
    assert cases["link_rate"] == 0.6
    assert cases["shares"]["none"] == round(1 / 6, 4)
    inspections = report["links"]["inspections"]
    assert inspections["by_method"]["credit_code"] == inspections["by_method"]["ambiguous"] == 1
    assert inspections["link_rate"] == 0.5
    assert report["links"]["projects"]["by_method"]["name"] == 1
    assert report["links"]["exceedances"]["records"] == 0
    assert report["links"]["exceedances"]["link_rate"] is None
    assert "enterprises" not in report["links"]  # the register is not linked to itself


def test_precision_mix_and_credit_code_flags(quality_store: Engine) -> None:
    report = jurisdiction_quality(quality_store, NANNING)
    cases = report["precision"]["cases"]
    assert cases["by_precision"] == {"point": 3, "county": 2, "city": 1}
    assert cases["shares"]["point"] == 0.5
    assert report["precision"]["enterprises"]["by_precision"]["point"] == 4
    assert report["precision"]["projects"]["by_method"]["address"] == 1
    flags = report["credit_code_flags"]
    assert flags["by_kind"]["cases"] == {"bad_format": 1, "bad_check": 1}
    assert flags["count"] == 2
    assert [(i["record_id"], i["flag"]) for i in flags["items"]] == [
        ("C4", "bad_check"),
        ("C5", "bad_format"),
    ]
    # the province sees Liuzhou's flagged case too
    assert jurisdiction_quality(quality_store, GUANGXI)["credit_code_flags"]["count"] == 3


def test_rejects_of_a_jurisdiction_are_those_of_its_batches(quality_store: Engine) -> None:
    report = jurisdiction_quality(quality_store, NANNING)
    rejects = report["rejects"]
    # batch 5 (Liuzhou's cases) wrote nothing in Nanning and was not loaded there
    assert [b["batch_id"] for b in rejects["batches"]] == [1, 2, 3, 4]
    assert rejects["by_reason"] == {"duplicate_id": 4, "missing_required": 2, "bad_date": 1}
    assert rejects["total"] == 7
    assert report["duplicates"]["duplicate_ids"] == 4
    assert report["duplicates"]["rows"] is None  # the rows of files are not listed here
    liuzhou = jurisdiction_quality(quality_store, LIUZHOU)["rejects"]
    assert [b["batch_id"] for b in liuzhou["batches"]] == [1, 5]  # 1: entry 000004
    assert liuzhou["by_reason"] == {"bad_coordinates": 1}


def test_register_names_shared_by_several_codes(quality_store: Engine) -> None:
    nanning = jurisdiction_quality(quality_store, NANNING)["duplicates"]["register_names"]
    assert (nanning["count"], nanning["entries"]) == (1, 2)  # 乙's other entry is in Liuzhou
    assert nanning["items"][0]["name_norm"] == "甲公司"
    assert [e["credit_code"] for e in nanning["items"][0]["entries"]] == [
        "91450102MA000001",
        "91450102MA000002",
    ]
    whole = jurisdiction_quality(quality_store, None)["duplicates"]["register_names"]
    assert [g["name_norm"] for g in whole["items"]] == ["乙公司", "甲公司"]
    assert whole["entries"] == 4
    assert (
        jurisdiction_quality(quality_store, QINGXIU)["duplicates"]["register_names"]["count"] == 0
    )


def test_stale_register_entries(quality_store: Engine) -> None:
    """000002 was not in 兴宁区's newer register (batch 4); 000005 has no batch at all;
    青秀区 and Liuzhou had no register file after batch 1, which confirmed 000003/4."""
    stale = jurisdiction_quality(quality_store, NANNING)["stale"]
    assert stale["count"] == 2
    assert [e["credit_code"] for e in stale["items"]] == ["91450102MA000002", "91450103MA000005"]
    assert stale["items"][0]["newer_register_batch"] == 4
    assert stale["items"][1]["newer_register_batch"] == 1
    assert stale["latest_register_batch"]["batch_id"] == 4
    assert "newer" in stale["definition"]
    assert jurisdiction_quality(quality_store, XINGNING)["stale"]["count"] == 1
    assert jurisdiction_quality(quality_store, LIUZHOU)["stale"]["count"] == 0


def test_review_list_with_candidates(quality_store: Engine) -> None:
    reviews = jurisdiction_quality(quality_store, NANNING)["reviews"]
    assert reviews["count"] == 2
    assert [(r["kind"], r["record_id"]) for r in reviews["items"]] == [
        ("cases", "C4"),
        ("inspections", "I2"),
    ]
    first = reviews["items"][0]
    assert first["candidates"][1] == {
        "credit_code": "91450202MA000004",
        "name": "候选",
        "score": 0.9,
        "distance_km": 1.5,
    }
    assert jurisdiction_quality(quality_store, XINGNING)["reviews"]["count"] == 1
    assert jurisdiction_quality(quality_store, None)["reviews"]["count"] == 3


def test_a_batch_report(quality_store: Engine) -> None:
    report = batch_quality(quality_store, 2)
    assert report["scope"]["type"] == "batch" and report["scope"]["kind"] == "cases"
    assert report["scope"]["jurisdiction"] == NANNING
    assert report["kinds"] == ["cases"] and list(report["links"]) == ["cases"]
    assert report["links"]["cases"]["records"] == 6  # C7 is batch 5's
    assert report["precision"]["cases"]["by_precision"] == {"point": 3, "county": 2, "city": 1}
    assert report["rejects"]["by_reason"] == {
        "duplicate_id": 3,
        "missing_required": 2,
        "bad_date": 1,
    }
    rows = report["duplicates"]["rows"]
    assert [r["row_number"] for r in rows] == [2, 3, 4]
    assert rows[0]["detail"] == "also in row 1" and rows[0]["values"]["案件编号"] == "K2-2"
    assert [r["record_id"] for r in report["reviews"]["items"]] == ["C4"]
    assert report["stale"]["count"] == 0
    assert report["duplicates"]["register_names"]["count"] == 0


def test_register_batch_reports(quality_store: Engine) -> None:
    first = batch_quality(quality_store, 1)
    assert [e["credit_code"] for e in first["stale"]["items"]] == ["91450102MA000002"]
    assert first["duplicates"]["register_names"]["count"] == 2  # 甲 and 乙 carry its entries
    assert first["rejects"]["total"] == 0
    county = batch_quality(quality_store, 4)
    assert county["stale"]["count"] == 0
    assert [g["name_norm"] for g in county["duplicates"]["register_names"]["items"]] == ["甲公司"]
    assert county["precision"]["enterprises"]["records"] == 1


def test_unknown_batch_and_jurisdiction(quality_store: Engine) -> None:
    with pytest.raises(NotFoundError):
        batch_quality(quality_store, 99)
    with pytest.raises(BadFilterError):
        jurisdiction_quality(quality_store, "999999")


def test_lists_are_capped_and_say_so(quality_store: Engine) -> None:
    report = jurisdiction_quality(quality_store, None, limit=1)
    assert report["reviews"]["count"] == 3 and len(report["reviews"]["items"]) == 1
    assert report["reviews"]["truncated"] is True
    assert report["credit_code_flags"]["truncated"] is True
    assert report["stale"]["truncated"] is True
