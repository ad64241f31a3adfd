"""The linkage truth of the sample: truth_links.csv, twins, invalid codes, projects, industries."""

from __future__ import annotations

import csv
import datetime as dt
from collections import Counter
from pathlib import Path
from typing import Any

import geopandas as gpd
import pytest

from analytics.credit_codes import is_valid_credit_code
from geo_service.geocoding import Gazetteer, normalize_company_name
from geo_service.sample import write_sample
from geo_service.sample.linkage import code_problem
from geo_service.store.boundaries import read_divisions_file
from tests.geo_service.sample.test_sample import (
    SIZES,
    accepted,
    km,
    parse_date,
    records,
    table,
    truth,
    truth_links,
    truth_points,
)

KEYS = {
    "cases.csv": ("cases", "案件编号", "当事人"),
    "inspections.csv": ("inspections", "检查编号", "企业名称"),
    "exceedances.csv": ("exceedances", "超标记录编号", "单位名称"),
    "complaints.csv": ("complaints", "投诉编号", "被投诉单位"),
    "projects.csv": ("projects", "项目编号", "建设单位"),
}


@pytest.fixture(scope="module")
def divisions() -> gpd.GeoDataFrame:
    return read_divisions_file()


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory, divisions: gpd.GeoDataFrame) -> Path:
    out = tmp_path_factory.mktemp("linkage_sample")
    write_sample(out, seed=7, divisions=divisions, **SIZES)
    return out


@pytest.fixture(scope="module")
def linked(sample: Path) -> dict[str, Any]:
    """Each truth_links row beside its record, and the register by code and by key."""
    register = accepted(sample, "enterprises.csv")
    by_key: dict[str, list[dict[str, str]]] = {}
    for r in register:
        by_key.setdefault(normalize_company_name(r["name"]), []).append(r)
    rows: dict[tuple[str, str], dict[str, str]] = {}
    numbers: dict[tuple[str, str], int] = {}
    for name, (kind, key, _) in KEYS.items():
        for number, r in enumerate(accepted(sample, name), start=2):
            rows[kind, r[key]] = r
            numbers[kind, r[key]] = number
    return {
        "register": {r["credit_code"]: r for r in register},
        "by_key": by_key,
        "rows": rows,
        "links": truth_links(sample),
    }


def test_truth_links_list_exactly_the_accepted_records(sample: Path) -> None:
    links = truth_links(sample)
    assert list(links[0]) == [
        "kind",
        "record_id",
        "credit_code",
        "expected",
        "planted",
        "row_number",
    ]
    for name, (kind, key, _) in KEYS.items():
        head, *body = records(sample / name)
        mine = [t for t in links if t["kind"] == kind]
        assert len({t["record_id"] for t in mine}) == len(mine)
        assert {t["record_id"] for t in mine} == {r[key] for r in accepted(sample, name)}
        for t in mine:
            assert body[int(t["row_number"]) - 2][head.index(key)] == t["record_id"]
    assert {t["expected"] for t in links} == {"link", "ambiguous", "none"}


def _check_name(
    planted: str,
    t: dict[str, str],
    name: str,
    entry: dict[str, str],
    by_key: dict[str, list[dict[str, str]]],
    has_point: bool,
    r: dict[str, str],
) -> None:
    key = normalize_company_name(name) if name else ""
    true_key = normalize_company_name(entry["name"])
    if planted in ("name", "variant"):
        assert key == true_key and len(by_key[key]) == 1
        assert (name != entry["name"]) == (planted == "variant")
    elif planted == "fuzzy_variant":
        assert has_point and key not in by_key and name != entry["name"]
    elif planted == "twin_near":
        assert has_point and key == true_key and len(by_key[key]) == 2
    elif planted == "twin_name_only":
        assert not has_point and key == true_key and len(by_key[key]) == 2
        assert t["expected"] == "ambiguous" and r["地址"]
    elif planted == "address_only":
        assert not name and t["expected"] == "none"


def test_each_record_states_what_its_planting_says(linked: dict[str, Any]) -> None:
    register, by_key, rows = linked["register"], linked["by_key"], linked["rows"]
    seen: Counter[str] = Counter()
    for t in linked["links"]:
        kind, planted = t["kind"], t["planted"]
        name_col = next(v[2] for v in KEYS.values() if v[0] == kind)
        r = rows[kind, t["record_id"]]
        name, code = r[name_col], r["统一社会信用代码"]
        key = normalize_company_name(name) if name else ""
        seen[planted] += 1
        if planted == "none":
            assert t["expected"] == "none" and not t["credit_code"] and not name and not code
            continue
        entry = register[t["credit_code"]]
        true_key = normalize_company_name(entry["name"])
        has_point = bool(r.get("经度"))
        if planted in ("code", "twin_code"):
            assert code == t["credit_code"] and t["expected"] == "link"
            assert (len(by_key[true_key]) == 2) == (planted == "twin_code")
        elif planted in ("bad_check", "bad_format"):
            assert code != t["credit_code"] and code_problem(code) == planted
            assert key == true_key and t["expected"] == "link"
        else:
            assert not code, t
        _check_name(planted, t, name, entry, by_key, has_point, r)
        if has_point and kind != "complaints" and planted != "none":
            assert name, t  # coordinate rows always name their enterprise
    for planted in ("code", "twin_code", "name", "variant", "fuzzy_variant", "twin_near"):
        assert seen[planted] > 0, planted
    assert seen["twin_name_only"] > 0 and seen["bad_check"] > 0 and seen["bad_format"] > 0


def test_coordinate_rows_rarely_state_the_code(linked: dict[str, Any], sample: Path) -> None:
    for name, low, high in (("cases.csv", 0.2, 0.3), ("inspections.csv", 0.15, 0.25)):
        coords = [r for r in table(sample / name) if r["经度"]]
        with_code = sum(bool(r["统一社会信用代码"]) for r in coords)
        assert low < with_code / len(coords) < high, name
        kind = KEYS[name][0]
        mine = [t for t in linked["links"] if t["kind"] == kind]
        hard = sum(t["planted"] == "fuzzy_variant" for t in mine)
        assert 0.005 < hard / len(mine) < 0.06, name


def test_twins_are_namesakes_far_apart_in_one_city(
    sample: Path, linked: dict[str, Any], divisions: gpd.GeoDataFrame
) -> None:
    doc = truth(sample)["linkage"]["twins"]
    city = divisions.set_index("adcode")["city_adcode"].to_dict()
    points = {p["record_id"]: p for p in truth_points(sample)}
    assert doc["min_distance_km"] == 30 and len(doc["pairs"]) >= 3
    members: set[str] = set()
    for pair in doc["pairs"]:
        a, b = (m["credit_code"] for m in pair["members"])
        ea, eb = linked["register"][a], linked["register"][b]
        assert a != b and normalize_company_name(ea["name"]) == normalize_company_name(eb["name"])
        assert pair["key"] == normalize_company_name(ea["name"])
        assert ea["adcode"] != eb["adcode"] and city[ea["adcode"]] == city[eb["adcode"]]
        pa, pb = points[a], points[b]
        assert km(float(pa["lon"]), float(pa["lat"]), float(pb["lon"]), float(pb["lat"])) >= 30
        members |= {a, b}
    keys = Counter(normalize_company_name(r["name"]) for r in linked["register"].values())
    assert {k for k, n in keys.items() if n > 1} == {p["key"] for p in doc["pairs"]}
    # a twin's record with a point lies near its enterprise, far from the other twin
    other = {
        m["credit_code"]: o["credit_code"]
        for p in doc["pairs"]
        for m, o in (p["members"], p["members"][::-1])
    }
    near = 0
    for t in linked["links"]:
        if t["planted"] == "twin_near" and t["record_id"] in points:
            p, mine, far = (
                points[t["record_id"]],
                points[t["credit_code"]],
                points[other[t["credit_code"]]],
            )
            x, y = float(p["lon"]), float(p["lat"])
            assert km(x, y, float(mine["lon"]), float(mine["lat"])) < 1.0
            assert km(x, y, float(far["lon"]), float(far["lat"])) > 25
            near += 1
    assert near > 0


def test_twins_named_only_by_name_are_placed_in_their_city(
    sample: Path, linked: dict[str, Any], divisions: gpd.GeoDataFrame
) -> None:
    gazetteer = Gazetteer(divisions[["adcode", "name", "level", "city_adcode"]])
    city = divisions.set_index("adcode")["city_adcode"].to_dict()
    points = {(p["kind"], p["record_id"]): p for p in truth_points(sample)}
    checked = 0
    for t in linked["links"]:
        if t["planted"] != "twin_name_only":
            continue
        r = linked["rows"][t["kind"], t["record_id"]]
        found = gazetteer.resolve(r["地址"])
        assert found is not None and found.precision == "city", r["地址"]
        twins = linked["by_key"][normalize_company_name(r[KEYS[f"{t['kind']}.csv"][2]])]
        assert {city[e["adcode"]] for e in twins} == {found.adcode}
        if (t["kind"], t["record_id"]) in points:
            point = points[t["kind"], t["record_id"]]
            assert point["locate_by"] == "address_city" and point["expected_precision"] == "city"
        checked += 1
    assert checked > 0


def test_invalid_credit_codes_are_exactly_the_planted_ones(
    sample: Path, linked: dict[str, Any]
) -> None:
    doc = truth(sample)["linkage"]["invalid_credit_codes"]
    planted = {(b["file"], b["row_number"]): b for b in doc}
    register_bad = [b for b in doc if b["file"] == "enterprises.csv"]
    assert 3 <= len(register_bad) <= 5
    with (sample / "expected_rejects.csv").open(encoding="utf-8", newline="") as fh:
        rejects = [r for r in csv.reader(fh) if r[0] == "enterprises.csv"]
    assert sorted((int(r[1]), r[2]) for r in rejects) == sorted(
        (b["row_number"], "bad_credit_code") for b in register_bad
    )
    for name in ("enterprises.csv", *KEYS):
        head, *body = records(sample / name)
        column = head.index("credit_code" if name == "enterprises.csv" else "统一社会信用代码")
        for number, row in enumerate(body, start=2):
            code = row[column] if len(row) > column else ""
            if not code:
                continue
            bad = planted.get((name, number))
            if bad is None:
                assert is_valid_credit_code(code), (name, number, code)
            else:
                assert not is_valid_credit_code(code) and code == bad["code"]
                assert code_problem(code) == bad["reason"]
    flagged = [b for b in doc if b["outcome"] == "flagged"]
    assert {b["reason"] for b in flagged} == {"bad_check", "bad_format"}
    stating = sum(
        bool(r["统一社会信用代码"])
        for name in ("cases.csv", "inspections.csv")
        for r in accepted(sample, name)
    )
    assert 0.002 < len(flagged) / stating < 0.02
    for b in flagged:
        t = next(t for t in linked["links"] if t["record_id"] == b["record_id"])
        assert t["credit_code"] == b["credit_code"] and t["planted"] == b["reason"]


def _date(text: str) -> dt.date | None:
    return parse_date(text) if text else None


def test_projects_are_dated_as_the_truth_says(sample: Path, linked: dict[str, Any]) -> None:
    doc = truth(sample)["linkage"]["projects"]
    projects = {p["项目编号"]: p for p in table(sample / "projects.csv")}
    assert records(sample / "projects.csv")[0] == [
        "项目编号",
        "项目名称",
        "建设单位",
        "统一社会信用代码",
        "行业代码",
        "地址",
        "经度",
        "纬度",
        "坐标系",
        "环评批复文号",
        "环评批复日期",
        "竣工环保验收日期",
        "项目状态",
        "行政区划代码",
    ]
    assert len(projects) == doc["rows"]
    assert 0.11 < len(projects) / SIZES["n_enterprises"] < 0.2
    for p in projects.values():
        approval, acceptance = _date(p["环评批复日期"]), _date(p["竣工环保验收日期"])
        for d in (approval, acceptance):
            assert d is None or dt.date(2021, 1, 1) <= d <= dt.date(2025, 12, 31)
        assert (approval is None) == (p["环评批复文号"] == "")
        if acceptance is not None:
            assert approval is not None and acceptance > approval
        assert (p["项目状态"] == "已验收") == (acceptance is not None)
        assert p["项目状态"] in {"在建", "已建成", "已验收", "停建"}
    assert 0.5 < sum(bool(p["统一社会信用代码"]) for p in projects.values()) / len(projects) < 0.7
    cases = {r["案件编号"]: r for r in accepted(sample, "cases.csv")}
    builders = {
        t["record_id"]: t["credit_code"] for t in linked["links"] if t["kind"] == "projects"
    }
    unapproved = [c for c in cases.values() if c["违法类型"] == "未批先建"]
    listed = {c["case_id"]: c for c in doc["unapproved_cases"]}
    truth_of = {t["record_id"]: t["credit_code"] for t in linked["links"] if t["kind"] == "cases"}
    assert {c["案件编号"] for c in unapproved} == set(listed)
    relations: Counter[str] = Counter()
    for case_id, c in listed.items():
        p = projects[c["project_id"]]
        assert builders[c["project_id"]] == truth_of[case_id] == c["credit_code"]
        day = parse_date(cases[case_id]["处罚决定日期"])
        approval = _date(p["环评批复日期"])
        assert day is not None and c["case_date"] == day.isoformat()
        relation = "missing" if approval is None else "after" if approval > day else "before"
        assert relation == c["approval"], c
        relations[relation] += 1
    assert set(relations) == {"after", "missing", "before"}
    assert relations["after"] > relations["before"]
    for c in doc["unaccepted_cases"]:
        p = projects[c["project_id"]]
        day = parse_date(cases[c["case_id"]]["处罚决定日期"])
        approval, acceptance = _date(p["环评批复日期"]), _date(p["竣工环保验收日期"])
        assert cases[c["case_id"]]["违法类型"] == "未验先投" and day is not None
        assert approval is None or approval < day
        assert c["acceptance"] == ("missing" if acceptance is None else "after")
        assert acceptance is None or acceptance > day


def test_linkage_counts_and_inspection_industries_match_the_files(
    sample: Path, linked: dict[str, Any], divisions: gpd.GeoDataFrame
) -> None:
    doc = truth(sample)
    links = linked["links"]
    for kind, entry in doc["linkage"]["kinds"].items():
        mine = [t for t in links if t["kind"] == kind]
        assert entry["rows"] == len(mine)
        assert entry["expected"] == {
            e: sum(t["expected"] == e for t in mine) for e in entry["expected"]
        }
        assert entry["planted"] == dict(Counter(t["planted"] for t in mine))
    city = divisions.set_index("adcode")["city_adcode"].to_dict()
    points = {p["record_id"]: p for p in truth_points(sample) if p["kind"] == "inspections"}
    expected: Counter[tuple[str, str, int]] = Counter()
    linkable: Counter[tuple[str, str, int]] = Counter()
    for t in links:
        if t["kind"] != "inspections":
            continue
        r = linked["rows"]["inspections", t["record_id"]]
        industry = linked["register"][t["credit_code"]]["industry_code"][:3]
        day = parse_date(r["检查日期"])
        assert day is not None
        key = (city[points[t["record_id"]]["adcode"]], industry, day.year)
        expected[key] += 1
        linkable[key] += t["expected"] == "link"
    got = {(e["city_adcode"], e["industry"], e["year"]): e for e in doc["inspection_industries"]}
    assert set(got) == set(expected)
    for key, e in got.items():
        assert (e["accepted"], e["linked"]) == (expected[key], linkable[key]), key
    assert "Linkage" in (sample / "README.md").read_text(encoding="utf-8")
