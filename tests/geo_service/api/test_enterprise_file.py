"""The enterprise file (一源一档) and the register search over a hand-built store.

Three register entries (兴宁区, 青秀区 and 柳州 城中区) and records linked to the first
by their ``enterprise_credit_code``, one of them placed in 青秀区: a county account of
兴宁区 gets the file without it, a city account of 南宁 with it.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterator
from typing import Any

import h3
import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import Engine, select

from geo_service.api import enterprises as enterprise_routes
from geo_service.api.app import create_app
from geo_service.core.errors import BadFilterError
from geo_service.core.settings import Settings
from geo_service.geocoding.names import normalize_company_name
from geo_service.store.models import (
    LINKED_TABLES,
    AuditEntry,
    Enterprise,
    Jurisdiction,
)
from layers.enterprise_file import SECTIONS, SHEETS, approval_evidence
from tests.conftest import account_headers

COUNTY, NEIGHBOUR, OTHER_CITY_COUNTY, CITY = "450102", "450103", "450202", "450100"
OWN = "91450102MA5TEST001"  # 兴宁区
NEXT_DOOR = "91450103MA5TEST002"  # 青秀区
FAR = "91450202MA5TEST003"  # 柳州 城中区
OWN_NAME = "南宁兴宁环保科技有限责任公司"


def _place(engine: Engine) -> dict[str, tuple[float, float, str, str]]:
    """Each county's representative point, its city and province."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                Jurisdiction.adcode,
                Jurisdiction.rep_lon,
                Jurisdiction.rep_lat,
                Jurisdiction.city_adcode,
                Jurisdiction.province_adcode,
            ).where(Jurisdiction.adcode.in_([COUNTY, NEIGHBOUR, OTHER_CITY_COUNTY]))
        ).all()
    return {r.adcode: (r.rep_lon, r.rep_lat, r.city_adcode, r.province_adcode) for r in rows}


def _located(places: dict[str, Any], county: str, nudge: float = 0.0) -> dict[str, Any]:
    lon, lat, city, province = places[county]
    return {
        "lon": lon + nudge,
        "lat": lat + nudge,
        "geocode_method": "coordinates",
        "geocode_precision": "point",
        "h3_15": int(h3.latlng_to_cell(lat + nudge, lon + nudge, 15), 16),
        "adcode": county,
        "city_adcode": city,
        "province_adcode": province,
    }


def _linked(code: str, method: str = "credit_code", score: float = 1.0) -> dict[str, Any]:
    return {
        "enterprise_credit_code": code,
        "link_method": method,
        "link_score": score,
        "supervision_category": "key",
    }


def _enterprise(places: dict[str, Any], code: str, name: str, county: str) -> dict[str, Any]:
    return {
        "credit_code": code,
        "name": name,
        "name_norm": normalize_company_name(name),
        "industry_code": "C2614",
        "industry_name": "有机化学原料制造",
        "address": "南宁市",
        "category": "key",
        **_located(places, county),
    }


def _fill(engine: Engine) -> None:
    places = _place(engine)
    day = dt.date.fromisoformat
    rows: dict[str, list[dict[str, Any]]] = {
        "cases": [
            {
                "case_id": "C1",
                "decision_date": day("2023-03-01"),
                "violation_type": "未批先建",
                "penalty_amount": 50_000.0,
                "status": "已执行",
                **_located(places, COUNTY, 0.001),
                **_linked(OWN),
            },
            {
                "case_id": "C2",
                "decision_date": day("2024-05-10"),
                "violation_type": "超标排放",
                "penalty_amount": 20_000.0,
                "status": "未执行",
                **_located(places, COUNTY, 0.002),
                **_linked(OWN, "name", 0.93),
            },
            {  # the same enterprise's case placed in the next county
                "case_id": "C3",
                "decision_date": day("2024-07-01"),
                "violation_type": "超标排放",
                "penalty_amount": 99_999.0,
                "status": "已执行",
                **_located(places, NEIGHBOUR),
                **_linked(OWN),
            },
            {  # another enterprise's case in the own county
                "case_id": "C4",
                "decision_date": day("2024-01-01"),
                "violation_type": "超标排放",
                "penalty_amount": 1.0,
                "status": None,
                **_located(places, COUNTY),
                **_linked(NEXT_DOOR),
            },
        ],
        "inspections": [
            {
                "inspection_id": "I1",
                "inspection_date": day("2024-01-15"),
                "problem_found": True,
                "problem_category": "废气",
                **_located(places, COUNTY),
                **_linked(OWN),
            }
        ],
        "exceedances": [
            {
                "exceedance_id": "E1",
                "monitor_date": day("2024-02-02"),
                "pollutant": "COD",
                "value": 120.0,
                "limit": 100.0,
                "unit": "mg/L",
                **_located(places, COUNTY),
                **_linked(OWN),
            }
        ],
        "complaints": [
            {
                "complaint_id": "K1",
                "complaint_date": day("2024-03-03"),
                "category": "废气",
                "description": "夜间异味",
                **_located(places, COUNTY),
                **_linked(OWN, "fuzzy", 0.81),
            }
        ],
        "projects": [
            {
                "project_id": "P1",
                "project_name": "二期扩建项目",
                "eia_approval_no": "南环审〔2023〕12号",
                "eia_approval_date": day("2023-06-01"),
                "status": "已建成",
                **_located(places, COUNTY),
                **_linked(OWN),
            }
        ],
    }
    with engine.begin() as conn:
        conn.execute(
            Enterprise.__table__.insert(),
            [
                _enterprise(places, OWN, OWN_NAME, COUNTY),
                _enterprise(places, NEXT_DOOR, "青秀化工有限公司", NEIGHBOUR),
                _enterprise(places, FAR, "柳州化工有限公司", OTHER_CITY_COUNTY),
            ],
        )
        for kind, records in rows.items():
            conn.execute(LINKED_TABLES[kind].__table__.insert(), records)  # type: ignore[attr-defined]


@pytest.fixture
def world(store: Engine) -> Iterator[dict[str, Any]]:
    _fill(store)
    url = store.url.render_as_string(hide_password=False)
    client = TestClient(create_app(Settings(database_url=url, rate_limit_per_minute=0)))
    yield {
        "client": client,
        "engine": store,
        "county": account_headers(store, "inspector", COUNTY),
        "city": account_headers(store, "leader", CITY),
    }


def _ids(doc: dict[str, Any]) -> list[str]:
    return [e["id"] for e in doc["timeline"]]


def test_the_file_lists_the_linked_records_within_the_county(world: dict[str, Any]) -> None:
    answer = world["client"].get(f"/enterprises/{OWN}", headers=world["county"])
    assert answer.status_code == 200, answer.text
    doc = answer.json()
    assert doc["enterprise"]["name"] == OWN_NAME
    assert doc["enterprise"]["county_name"] == "兴宁区"
    assert doc["enterprise"]["category_zh"] == "重点排污单位"
    # one timeline, oldest first; C3 (青秀区) and C4 (another enterprise) left out
    assert _ids(doc) == ["C1", "P1", "I1", "E1", "K1", "C2"]
    assert [e["kind"] for e in doc["timeline"]][:2] == ["cases", "projects"]
    k1 = next(e for e in doc["timeline"] if e["id"] == "K1")
    assert (k1["link_method"], k1["link_score"]) == ("fuzzy", 0.81)
    assert doc["counts"] == {
        "cases": 2,
        "inspections": 1,
        "exceedances": 1,
        "complaints": 1,
        "projects": 1,
    }
    assert doc["penalties"] == {
        "cases": 2,
        "fined": 2,
        "sum": 70_000.0,
        "by_status": {
            "已执行": {"count": 1, "sum": 50_000.0},
            "未执行": {"count": 1, "sum": 20_000.0},
        },
    }
    [evidence] = doc["approval_evidence"]
    assert (evidence["case_id"], evidence["finding"]) == ("C1", "after")
    assert evidence["projects"][0]["eia_approval_date"] == "2023-06-01"
    assert doc["jurisdiction"] == COUNTY
    assert any(link["href"].endswith(f"/enterprises/{OWN}.xlsx") for link in doc["links"])


def test_a_city_account_sees_the_record_in_the_next_county(world: dict[str, Any]) -> None:
    doc = world["client"].get(f"/enterprises/{OWN}", headers=world["city"]).json()
    assert _ids(doc) == ["C1", "P1", "I1", "E1", "K1", "C2", "C3"]
    assert doc["penalties"]["sum"] == 169_999.0
    assert doc["penalties"]["by_status"]["已执行"] == {"count": 2, "sum": 149_999.0}
    # asked for the own county only: the next county's case is left out again
    narrowed = world["client"].get(
        f"/enterprises/{OWN}?jurisdiction={COUNTY}", headers=world["city"]
    )
    assert _ids(narrowed.json())[-1] == "C2"


def test_the_risk_score_and_its_reasons(world: dict[str, Any]) -> None:
    risk = world["client"].get(f"/enterprises/{OWN}", headers=world["county"]).json()["risk"]
    assert risk["available"] is True, risk
    assert 0.0 <= risk["score"] <= 1.0
    assert risk["tier"] in ("high", "medium", "low")
    assert risk["jurisdiction"] == COUNTY
    assert isinstance(risk["reasons"], list)


def test_a_risk_layer_that_cannot_be_built_is_said_in_the_file(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*_args: Any, **_kwargs: Any) -> Any:
        raise BadFilterError("no records to score")

    monkeypatch.setattr(enterprise_routes, "load_layer", refuse)
    answer = world["client"].get(f"/enterprises/{OWN}", headers=world["county"])
    assert answer.status_code == 200
    risk = answer.json()["risk"]
    assert risk["available"] is False and "no records to score" in risk["reason"]


def test_scope_of_the_file(world: dict[str, Any]) -> None:
    client = world["client"]
    # an entry outside the scope answers as an unknown one: which codes another
    # jurisdiction's register holds is not the caller's to learn
    outside = client.get(f"/enterprises/{NEXT_DOOR}", headers=world["county"])
    unknown = client.get("/enterprises/91450102MA5NOSUCH0", headers=world["county"])
    assert outside.status_code == unknown.status_code == 404
    assert outside.json()["code"] == unknown.json()["code"] == "not_found"
    far = client.get(f"/enterprises/{FAR}.html", headers=world["city"])
    assert far.status_code == 404 and set(far.json()) == {"code", "description"}
    anonymous = client.get(f"/enterprises/{OWN}")
    assert anonymous.status_code == 401 and anonymous.json()["code"] == "authentication_required"
    asked_outside = client.get(
        f"/enterprises/{OWN}?jurisdiction={NEIGHBOUR}", headers=world["county"]
    )
    assert asked_outside.status_code == 403
    bad_format = client.get(f"/enterprises/{OWN}?f=pdf", headers=world["county"])
    assert bad_format.status_code == 404


def test_every_answer_is_audited_with_its_record_count(world: dict[str, Any]) -> None:
    client, engine = world["client"], world["engine"]
    client.get(f"/enterprises/{OWN}", headers=world["county"])
    client.get("/enterprises?q=化工", headers=world["city"])
    with engine.connect() as conn:
        rows = conn.execute(
            select(AuditEntry.action, AuditEntry.resource, AuditEntry.records).order_by(
                AuditEntry.id
            )
        ).all()
    assert [tuple(r) for r in rows] == [
        ("enterprise_file", f"/enterprises/{OWN}", 7),  # the entry and six records
        ("enterprise_search", "/enterprises", 1),  # 青秀化工 (柳州's is another city's)
    ]


def test_the_page_in_chinese_with_its_map(world: dict[str, Any]) -> None:
    client = world["client"]
    for url in (f"/enterprises/{OWN}?f=html", f"/enterprises/{OWN}.html"):
        answer = client.get(url, headers=world["county"])
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/html")
        page = answer.text
        for title in SECTIONS:
            assert f"<h2>{title}</h2>" in page
        assert "<svg" in page and '<path d="M' in page  # the county's outline
        assert page.count("<circle") == 7  # six records and the enterprise
        assert "C1" in page and "C3" not in page
        assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_the_workbook_has_a_sheet_per_part(world: dict[str, Any]) -> None:
    answer = world["client"].get(f"/enterprises/{OWN}?f=xlsx", headers=world["county"])
    assert answer.status_code == 200
    book = load_workbook(io.BytesIO(answer.content))
    assert book.sheetnames == list(SHEETS)
    timeline = list(book["时间轴"].values)
    assert timeline[0][:3] == ("日期", "类别", "编号")
    assert [row[2] for row in timeline[1:]] == ["C1", "P1", "I1", "E1", "K1", "C2"]
    penalties = list(book["处罚执行"].values)
    assert penalties[1] == ("合计", 2, 2, 70_000)
    assert list(book["未批先建核查"].values)[1][:2] == ("C1", "2023-03-01")
    same = world["client"].get(f"/enterprises/{OWN}.xlsx", headers=world["county"])
    assert load_workbook(io.BytesIO(same.content)).sheetnames == list(SHEETS)


def _codes(answer: Any) -> list[str]:
    return [hit["credit_code"] for hit in answer.json()["enterprises"]]


def test_search_by_name_variant_and_code_prefix_within_scope(world: dict[str, Any]) -> None:
    client, county, city = world["client"], world["county"], world["city"]
    variant = client.get("/enterprises?q=广西南宁兴宁环保科技有限公司", headers=county)
    assert _codes(variant) == [OWN]
    hit = variant.json()["enterprises"][0]
    assert hit["links"][0]["href"].endswith(f"/enterprises/{OWN}")
    assert hit["links"][0]["title"] == "一源一档"
    assert _codes(client.get("/enterprises?q=91450102ma5t", headers=county)) == [OWN]
    # never outside the scope: 化工 names two enterprises, neither in 兴宁区
    assert _codes(client.get("/enterprises?q=化工", headers=county)) == []
    assert _codes(client.get("/enterprises?q=914501", headers=city)) == [OWN, NEXT_DOOR]
    assert _codes(client.get("/enterprises?q=9145", headers=city)) == [OWN, NEXT_DOOR]
    page = client.get("/enterprises?q=9145&limit=1", headers=city).json()
    assert (page["numberMatched"], page["numberReturned"]) == (2, 1)
    assert [link["rel"] for link in page["links"]] == ["self", "next"]
    assert client.get("/enterprises?q=%25", headers=city).json()["numberMatched"] == 0
    outside = client.get(f"/enterprises?q=化工&jurisdiction={NEIGHBOUR}", headers=county)
    assert outside.status_code == 403
    assert client.get("/enterprises?q=化工").status_code == 401
    assert client.get("/enterprises?q=9145&limit=101", headers=city).status_code == 400


def test_items_link_to_the_file(world: dict[str, Any]) -> None:
    client, headers = world["client"], world["city"]
    cases = client.get("/collections/cases/items?limit=100", headers=headers).json()
    links = {f["id"]: f.get("links", []) for f in cases["features"]}
    assert links["C1"][0]["rel"] == "related" and links["C1"][0]["title"] == "一源一档"
    assert links["C1"][0]["href"].endswith(f"/enterprises/{OWN}")
    assert links["C4"][0]["href"].endswith(f"/enterprises/{NEXT_DOOR}")
    one = client.get("/collections/inspections/items/I1", headers=headers).json()
    assert one["links"][0]["href"].endswith(f"/enterprises/{OWN}")
    ents = client.get("/collections/enterprises/items", headers=headers).json()
    own = next(f for f in ents["features"] if f["id"] == OWN)
    assert own["links"][0]["href"].endswith(f"/enterprises/{OWN}")


@pytest.mark.parametrize(
    ("approved", "finding"),
    [(["2023-06-01"], "after"), ([None], "missing"), ([], "missing"), (["2022-01-01"], "before")],
)
def test_approval_evidence(approved: list[str | None], finding: str) -> None:
    case = {"case_id": "C", "decision_date": dt.date(2023, 3, 1), "violation_type": "未批先建"}
    projects = [
        {
            "project_id": f"P{i}",
            "eia_approval_date": dt.date.fromisoformat(a) if a else None,
        }
        for i, a in enumerate(approved)
    ]
    other = {"case_id": "D", "decision_date": dt.date(2023, 3, 1), "violation_type": "超标排放"}
    [evidence] = approval_evidence([case, other], projects)
    assert evidence["finding"] == finding


def test_map_pop_ups_link_to_the_file(world: dict[str, Any]) -> None:
    from geo_service.core.filters import FILTER_NAMES
    from layers.maps import DrawMarker, MapContext, build_map

    ctx = MapContext(
        divisions=(),
        industries=(),
        months=("2025-01",),
        bounds=(104.4, 20.9, 112.1, 26.4),
        filter_names=FILTER_NAMES,
        markers=(DrawMarker(108.3, 22.8, "某化工有限公司", OWN),),
    )
    planner = build_map("planner", ctx)
    assert f'href="/enterprises/{OWN}.html" target="_blank">一源一档</a>' in planner
    page = world["client"].get("/maps/clusters", headers=world["city"]).text
    assert '["enterprise_credit_code", "一源一档", "/enterprises/"]' in page.replace(
        "\\u4e00\\u6e90\\u4e00\\u6863", "一源一档"
    )
