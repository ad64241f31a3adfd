"""The synthetic sample: determinism, files, planted structure and planted dirt."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
import re
from collections import Counter
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pytest
import shapely

from analytics.coords import normalize_crs_name, to_wgs84
from analytics.credit_codes import is_valid_credit_code
from geo_service.geocoding import Gazetteer, normalize_company_name
from geo_service.sample import SampleError, write_sample
from geo_service.store.boundaries import read_divisions_file

SIZES: dict[str, Any] = {"n_enterprises": 1500, "n_cases": 3000, "n_inspections": 3000}
SMALL: dict[str, Any] = {"n_enterprises": 400, "n_cases": 600, "n_inspections": 600}
FILES = (
    "enterprises.csv",
    "cases.csv",
    "inspections.csv",
    "exceedances.csv",
    "complaints.csv",
    "inspectors.csv",
    "projects.csv",
    "truth.json",
    "truth_points.csv",
    "truth_links.csv",
    "expected_rejects.csv",
    "README.md",
)
ENCODINGS = {
    "enterprises.csv": "utf-8",
    "cases.csv": "gb18030",
    "inspections.csv": "utf-8-sig",
    "exceedances.csv": "utf-8",
    "complaints.csv": "gb18030",
    "inspectors.csv": "utf-8-sig",
    "projects.csv": "utf-8",
}
#: Files whose bytes the planning files (added later) must never change.
ORIGINAL_DATA = (
    "enterprises.csv",
    "cases.csv",
    "inspections.csv",
    "truth_points.csv",
    "expected_rejects.csv",
)
ID_COLUMN = {"cases.csv": "案件编号", "inspections.csv": "检查编号"}
DATE_COLUMN = {"cases.csv": "处罚决定日期", "inspections.csv": "检查日期"}
NAME_COLUMN = {"cases.csv": "当事人", "inspections.csv": "企业名称"}


@pytest.fixture(scope="module")
def divisions() -> gpd.GeoDataFrame:
    return read_divisions_file()


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory, divisions: gpd.GeoDataFrame) -> Path:
    out = tmp_path_factory.mktemp("sample")
    write_sample(out, seed=7, divisions=divisions, **SIZES)
    return out


def records(path: Path) -> list[list[str]]:
    """CSV records of a generated file (header first)."""
    text = path.read_bytes().decode(ENCODINGS[path.name])
    return list(csv.reader(io.StringIO(text, newline="")))


def table(path: Path) -> list[dict[str, str]]:
    """Records as dicts (only well-formed ones: one field per header)."""
    head, *body = records(path)
    return [dict(zip(head, r, strict=True)) for r in body if len(r) == len(head)]


def accepted(sample: Path, name: str) -> list[dict[str, str]]:
    """Records the ingest must accept (expected_rejects.csv lists the others)."""
    with (sample / "expected_rejects.csv").open(encoding="utf-8", newline="") as fh:
        rejected = {int(e["row_number"]) for e in csv.DictReader(fh) if e["file"] == name}
    head, *body = records(sample / name)
    return [
        dict(zip(head, r, strict=True))
        for number, r in enumerate(body, start=2)
        if number not in rejected
    ]


def truth(sample: Path) -> dict[str, Any]:
    return json.loads((sample / "truth.json").read_text(encoding="utf-8"))


def truth_links(sample: Path) -> list[dict[str, str]]:
    with (sample / "truth_links.csv").open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def truth_points(sample: Path) -> list[dict[str, str]]:
    with (sample / "truth_points.csv").open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def parse_date(text: str) -> dt.date | None:
    for fmt in ("%Y-%m-%d", "%Y/%m/%d", "%Y年%m月%d日", "%Y%m%d"):
        try:
            return dt.datetime.strptime(text.strip(), fmt).date()
        except ValueError:
            continue
    return None


def km(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    h = (
        math.sin((p2 - p1) / 2) ** 2
        + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    )
    return 2 * 6371.0088 * math.asin(math.sqrt(h))


def in_spot(point: dict[str, str], spot: dict[str, Any]) -> bool:
    """Whether a truth point lies within a hot spot's radius."""
    return (
        km(float(point["lon"]), float(point["lat"]), spot["lon"], spot["lat"]) <= spot["radius_km"]
    )


# -- determinism ---------------------------------------------------------------


def test_same_seed_gives_same_bytes_and_other_seed_differs(
    tmp_path: Path, divisions: gpd.GeoDataFrame
) -> None:
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    write_sample(a, seed=5, divisions=divisions, **SMALL)
    write_sample(b, seed=5, divisions=divisions, **SMALL)
    write_sample(c, seed=6, divisions=divisions, **SMALL)
    for name in FILES:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    for name in (
        "enterprises.csv",
        "cases.csv",
        "inspections.csv",
        "truth_points.csv",
        "exceedances.csv",
        "complaints.csv",
        "inspectors.csv",
        "projects.csv",
        "truth_links.csv",
    ):
        assert (a / name).read_bytes() != (c / name).read_bytes(), name


def test_planning_files_leave_the_original_files_unchanged(
    tmp_path: Path, divisions: gpd.GeoDataFrame
) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    write_sample(a, seed=5, divisions=divisions, **SMALL)
    write_sample(b, seed=5, divisions=divisions, n_exceedances=0, n_complaints=7, **SMALL)
    for name in ORIGINAL_DATA:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    assert len(records(b / "exceedances.csv")) == 1 and len(records(b / "complaints.csv")) == 8
    assert (a / "inspectors.csv").read_bytes() == (b / "inspectors.csv").read_bytes()


def test_bundled_slice_is_what_the_generator_writes(tmp_path: Path) -> None:
    from geo_service.core.paths import SAMPLE_SLICE

    doc = truth(SAMPLE_SLICE)
    if "linkage" not in doc:
        pytest.skip(
            "the bundled slice predates the linkage truth: regenerate it with "
            "`geo-service sample --seed 2024 --enterprises 3000 --cases 3500 "
            "--inspections 6000 --out sample_geodata/sample`"
        )
    sizes = {f"n_{k}": doc["files"][k]["rows"] for k in ("enterprises", "cases", "inspections")}
    invalid = doc["linkage"]["invalid_credit_codes"]
    sizes["n_enterprises"] -= sum(1 for c in invalid if c["file"] == "enterprises.csv")
    write_sample(tmp_path, seed=doc["seed"], **sizes)
    for name in FILES:
        assert (tmp_path / name).read_bytes() == (SAMPLE_SLICE / name).read_bytes(), name


def test_summary_and_row_counts(tmp_path: Path, divisions: gpd.GeoDataFrame) -> None:
    summary = write_sample(tmp_path, seed=1, divisions=divisions, **SMALL)
    assert summary["seed"] == 1
    bad_register = 3  # register rows with a wrong check character, after the 400
    for name, n in (
        ("enterprises", 400 + bad_register),
        ("cases", 600),
        ("inspections", 600),
        ("exceedances", 180),
        ("complaints", 240),
    ):
        assert summary["files"][name]["rows"] == n
        assert len(records(Path(summary["files"][name]["path"]))) == n + 1
    rejects = list(csv.reader((tmp_path / "expected_rejects.csv").open(encoding="utf-8")))
    assert summary["files"]["expected_rejects"]["rows"] == len(rejects) - 1 > 0
    points = len(truth_points(tmp_path))
    bad_events = len(rejects) - 1 - bad_register
    assert points == summary["files"]["truth_points"]["rows"] == 400 + 1200 - bad_events
    links = summary["files"]["truth_links"]["rows"]
    assert links == 1200 - bad_events + 180 + 240 + summary["files"]["projects"]["rows"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(FILES)


def test_impossible_sizes_are_refused(tmp_path: Path, divisions: gpd.GeoDataFrame) -> None:
    with pytest.raises(SampleError):
        write_sample(tmp_path, n_enterprises=0, divisions=divisions)
    with pytest.raises(ValueError):
        write_sample(tmp_path, n_cases=-1, divisions=divisions)


# -- files ----------------------------------------------------------------------


def test_encodings_and_headers(sample: Path) -> None:
    cases = (sample / "cases.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        cases.decode("utf-8")
    assert cases.decode("gb18030").startswith("案件编号,处罚决定日期,当事人,统一社会信用代码")
    inspections = (sample / "inspections.csv").read_bytes()
    assert inspections.startswith(b"\xef\xbb\xbf")
    assert inspections[3:].decode("utf-8").startswith("检查编号,检查日期,企业名称")
    enterprises = (sample / "enterprises.csv").read_bytes()
    assert not enterprises.startswith(b"\xef\xbb\xbf")
    assert enterprises.decode("utf-8").startswith("credit_code,name,industry_code,industry_name")
    for name in ("enterprises.csv", "cases.csv", "inspections.csv"):
        text = (sample / name).read_bytes().decode(ENCODINGS[name])
        assert len(text.splitlines()) == len(records(sample / name)), "no field spans lines"


def test_credit_codes_are_valid(sample: Path) -> None:
    register = accepted(sample, "enterprises.csv")
    codes = [r["credit_code"] for r in register]
    assert len(set(codes)) == len(codes) == SIZES["n_enterprises"]
    assert all(is_valid_credit_code(c) for c in codes)
    assert all(r["credit_code"][2:8] == r["adcode"] for r in register)
    for name in ("cases.csv", "inspections.csv"):
        used = [r["统一社会信用代码"] for r in table(sample / name) if r["统一社会信用代码"]]
        assert 0.2 * SIZES["n_cases"] < len(used) < 0.4 * SIZES["n_cases"]


def test_register_columns(sample: Path) -> None:
    register = accepted(sample, "enterprises.csv")
    shares = Counter(r["category"] for r in register)
    assert shares["key"] == 150 and shares["special"] == 225 and shares["general"] == 1125
    assert all(re.fullmatch(r"[A-E,N]\d{4}", r["industry_code"]) for r in register)
    assert all(r["address"].startswith("广西壮族自治区") for r in register)
    suffixes = ("有限公司", "有限责任公司", "股份有限公司", "厂")
    assert all(r["name"].endswith(suffixes) for r in register)
    permits = [r["permit_no"] for r in register if r["permit_no"]]
    assert all(p[:18] in {r["credit_code"] for r in register} and p.endswith("P") for p in permits)
    twins = len(truth(sample)["linkage"]["twins"]["pairs"])
    assert twins >= 3
    assert len({normalize_company_name(r["name"]) for r in register}) == len(register) - twins


def test_coordinates_have_six_decimals_and_known_crs_labels(sample: Path) -> None:
    labels: Counter[str] = Counter()
    for name, lon, lat, crs in (
        ("enterprises.csv", "lon", "lat", "crs"),
        ("cases.csv", "经度", "纬度", "坐标系"),
    ):
        for r in table(sample / name):
            if r[lon] and re.fullmatch(r"-?\d+\.\d+", r[lon]):
                assert re.fullmatch(r"\d+\.\d{6}", r[lon]) and re.fullmatch(r"\d+\.\d{6}", r[lat])
                labels[normalize_crs_name(r[crs])] += 1
    total = sum(labels.values())
    assert 0.25 < labels["GCJ02"] / total < 0.35
    assert 0.06 < labels["BD09"] / total < 0.14
    assert 0.02 < labels["CGCS2000"] / total < 0.08


# -- truth -----------------------------------------------------------------------


def test_truth_points_lie_in_their_county(sample: Path, divisions: gpd.GeoDataFrame) -> None:
    points = truth_points(sample)
    assert {p["kind"] for p in points} == {"enterprises", "cases", "inspections"}
    counties = divisions[divisions["level"] == "county"].set_index("adcode").geometry
    by_county: dict[str, list[tuple[float, float]]] = {}
    for p in points:
        by_county.setdefault(p["adcode"], []).append((float(p["lon"]), float(p["lat"])))
    for adcode, xy in by_county.items():
        arr = np.asarray(xy)
        assert shapely.contains_xy(counties[adcode], arr[:, 0], arr[:, 1]).all(), adcode


def test_points_with_coordinates_round_trip_to_truth(sample: Path) -> None:
    truth_by_id = {p["record_id"]: p for p in truth_points(sample) if p["kind"] == "cases"}
    swapped = {s["record_id"] for s in truth(sample)["mess"]["files"]["cases"]["swapped"]}
    checked = 0
    for r in accepted(sample, "cases.csv"):
        t = truth_by_id[r["案件编号"]]
        if t["locate_by"] != "coordinates":
            continue
        x, y = float(r["经度"]), float(r["纬度"])
        assert (x < y) == (r["案件编号"] in swapped)  # a swapped row holds latitude first
        x, y = (y, x) if x < y else (x, y)
        lon, lat = to_wgs84([x], [y], r["坐标系"])
        assert km(lon[0], lat[0], float(t["lon"]), float(t["lat"])) < 0.001
        checked += 1
    assert checked > 0.7 * SIZES["n_cases"]


def test_hot_spots_are_much_denser_than_the_region(sample: Path) -> None:
    doc = truth(sample)
    cases = [p for p in truth_points(sample) if p["kind"] == "cases"]
    region_density = len(cases) / 237_000.0  # Guangxi's land area, km²
    firms = {p["record_id"]: p for p in truth_points(sample) if p["kind"] == "enterprises"}
    assert 3 <= len(doc["hot_spots"]) <= 5
    for spot in doc["hot_spots"]:
        n_inside = sum(in_spot(p, spot) for p in cases)
        density = n_inside / (math.pi * spot["radius_km"] ** 2)
        assert density > 5 * region_density, spot["key"]
        assert n_inside == spot["cases_inside"]
        firms_inside = sum(in_spot(p, spot) for p in firms.values())
        assert n_inside / firms_inside > 1.5 * len(cases) / len(firms), spot["key"]


def test_worsening_counties_grow_and_quiet_counties_stay_quiet(sample: Path) -> None:
    doc = truth(sample)
    county_of = {p["record_id"]: p["adcode"] for p in truth_points(sample) if p["kind"] == "cases"}
    years: Counter[tuple[bool, int]] = Counter()
    worse = {c["adcode"] for c in doc["worsening_counties"]["counties"]}
    assert len(worse) >= 3
    for r in accepted(sample, "cases.csv"):
        d = parse_date(r["处罚决定日期"])
        assert d is not None
        years[(county_of[r["案件编号"]] in worse, d.year)] += 1
    assert years[(True, 2025)] > 2.2 * years[(True, 2023)]
    assert years[(True, 2024)] > 1.4 * years[(True, 2023)]
    assert 0.7 < years[(False, 2025)] / years[(False, 2023)] < 1.3
    quiet = {c["adcode"] for c in doc["quiet_counties"]["counties"]}
    firms = Counter(p["adcode"] for p in truth_points(sample) if p["kind"] == "enterprises")
    quiet_rate = sum(a in quiet for a in county_of.values()) / sum(firms[a] for a in quiet)
    assert quiet_rate < 0.35 * len(county_of) / sum(firms.values())


def test_problem_families_follow_industries(sample: Path) -> None:
    industry = {r["案件编号"]: r["行业代码"] for r in accepted(sample, "cases.csv")}
    family: dict[str, Counter[str]] = {}
    for p in truth_points(sample):
        if p["kind"] == "cases":
            family.setdefault(industry[p["record_id"]][:5], Counter())[p["family"]] += 1

    def share(codes: tuple[str, ...], fams: tuple[str, ...]) -> float:
        total = sum(sum(family.get(c, Counter()).values()) for c in codes)
        return sum(family.get(c, Counter())[f] for c in codes for f in fams) / total

    assert share(("C1340", "C2211", "C2221", "C1391"), ("wastewater",)) > 0.4
    assert share(("E4710",), ("dust",)) > 0.6
    assert share(("C3360", "C2614"), ("hazardous_waste",)) > 0.3
    assert share(("D4411", "C3120", "C3011"), ("monitoring", "air")) > 0.6
    assert share(("E4710",), ("hazardous_waste", "wastewater")) == 0.0


def test_inspection_findings_follow_the_same_risk(sample: Path) -> None:
    doc = truth(sample)
    spots = doc["hot_spots"]
    found = {"hot": [0, 0], "rest": [0, 0]}
    by_id = {p["record_id"]: p for p in truth_points(sample) if p["kind"] == "inspections"}
    for r in accepted(sample, "inspections.csv"):
        p = by_id[r["检查编号"]]
        assert (r["是否发现问题"] == "是") == bool(p["family"]) == bool(r["问题类别"])
        hot = any(in_spot(p, spot) for spot in spots)
        found["hot" if hot else "rest"][0] += r["是否发现问题"] == "是"
        found["hot" if hot else "rest"][1] += 1
    assert found["hot"][0] / found["hot"][1] > 1.5 * found["rest"][0] / found["rest"][1]


# -- dirt ------------------------------------------------------------------------


def _defect_holds(
    reason: str,
    row: list[str],
    head: list[str],
    earlier_ids: set[str],
    name: str,
    register: dict[str, set[str]],
    gazetteer: Gazetteer,
) -> bool:
    if reason == "malformed_row":
        return len(row) > len(head)
    r = dict(zip(head, row, strict=True))
    if reason == "missing_required":
        return not r[ID_COLUMN[name]] or not r[DATE_COLUMN[name]]
    if reason == "bad_date":
        d = parse_date(r[DATE_COLUMN[name]])
        return d is None or not dt.date(1990, 1, 1) <= d <= dt.date.today()
    if reason == "duplicate_id":
        return r[ID_COLUMN[name]] in earlier_ids
    if reason == "bad_amount":
        amount = r["罚款金额"].removesuffix("元")
        return not re.fullmatch(r"\d+(\.\d+)?", amount)
    if reason == "unlocatable":
        return (
            not r["经度"]
            and not r["行政区划代码"]
            and r["统一社会信用代码"] not in register["codes"]
            and normalize_company_name(r[NAME_COLUMN[name]]) not in register["names"]
            and gazetteer.resolve(r["地址"]) is None
        )
    assert reason == "bad_coordinates", reason
    try:
        x, y = float(r["经度"]), float(r["纬度"])
    except ValueError:
        return True
    return not (104 < x < 113 and 20 < y < 27)  # Beijing or an impossible latitude


def test_expected_rejects_carry_exactly_their_defect(
    sample: Path, divisions: gpd.GeoDataFrame
) -> None:
    with (sample / "expected_rejects.csv").open(encoding="utf-8", newline="") as fh:
        expected = list(csv.DictReader(fh))
    register_rows = table(sample / "enterprises.csv")
    register = {
        "codes": {r["credit_code"] for r in register_rows},
        "names": {normalize_company_name(r["name"]) for r in register_rows},
    }
    gazetteer = Gazetteer(divisions[["adcode", "name", "level", "city_adcode"]])
    for name in ("cases.csv", "inspections.csv"):
        head, *body = records(sample / name)
        mine = {int(e["row_number"]): e["reason"] for e in expected if e["file"] == name}
        reasons = Counter(mine.values())
        assert len(reasons) == (7 if name == "cases.csv" else 6)
        assert 0.004 < len(mine) / len(body) < 0.012
        seen: set[str] = set()
        for number, row in enumerate(body, start=2):
            if number in mine:
                assert _defect_holds(mine[number], row, head, seen, name, register, gazetteer), (
                    name,
                    number,
                    mine[number],
                    row,
                )
            else:
                r = dict(zip(head, row, strict=True))
                assert r[ID_COLUMN[name]] and r[ID_COLUMN[name]] not in seen
                assert parse_date(r[DATE_COLUMN[name]]) is not None
                seen.add(r[ID_COLUMN[name]])


def test_rows_without_coordinates_are_locatable(sample: Path, divisions: gpd.GeoDataFrame) -> None:
    register_rows = table(sample / "enterprises.csv")
    codes = {r["credit_code"] for r in register_rows}
    names = {normalize_company_name(r["name"]): r["name"] for r in register_rows}
    gazetteer = Gazetteer(divisions[["adcode", "name", "level", "city_adcode"]])
    expected = {p["record_id"]: p for p in truth_points(sample) if p["kind"] == "cases"}
    forms: Counter[str] = Counter()
    for r in accepted(sample, "cases.csv"):
        if r["经度"]:
            continue
        t = expected[r["案件编号"]]
        forms[t["locate_by"]] += 1
        assert not r["行政区划代码"]
        if t["locate_by"] == "credit_code":
            assert r["统一社会信用代码"] in codes and not r["当事人"]
        elif t["locate_by"].startswith("name"):
            key = normalize_company_name(r["当事人"])
            assert key in names and not r["统一社会信用代码"]
            assert (names[key] != r["当事人"]) == (t["locate_by"] == "name_variant")
        else:
            found = gazetteer.resolve(r["地址"])
            assert found is not None and found.adcode == t["expected_adcode"], r["地址"]
            assert found.precision == t["expected_precision"]
    assert set(forms) == {"credit_code", "name", "name_variant", "address_county", "address_city"}


def test_dates_and_amounts_come_in_mixed_formats(sample: Path) -> None:
    rows = accepted(sample, "cases.csv")
    dates = [r["处罚决定日期"] for r in rows]
    assert any(re.fullmatch(r"\d{4}-\d{2}-\d{2}", d) for d in dates)
    assert any(re.fullmatch(r"\d{4}/\d{1,2}/\d{1,2}", d) for d in dates)
    assert any(re.fullmatch(r"\d{4}年\d{1,2}月\d{1,2}日", d) for d in dates)
    assert any(re.fullmatch(r"\d{8}", d) for d in dates)
    amounts = [r["罚款金额"] for r in rows]
    assert any(a.endswith("万元") for a in amounts)
    assert any(re.fullmatch(r"\d{1,3}(,\d{3})+元", a) for a in amounts)
    years = Counter(d.year for d in map(parse_date, dates) if d)
    assert set(years) == {2021, 2022, 2023, 2024, 2025}


# -- planning files ----------------------------------------------------------------


def test_planning_files_headers_and_ids(sample: Path, divisions: gpd.GeoDataFrame) -> None:
    ex, co, ro = (
        table(sample / f) for f in ("exceedances.csv", "complaints.csv", "inspectors.csv")
    )
    assert len(ex) == 900 and len(co) == 1200  # 0.3 and 0.4 × the cases
    assert records(sample / "exceedances.csv")[0][:4] == [
        "超标记录编号",
        "超标日期",
        "统一社会信用代码",
        "单位名称",
    ]
    with pytest.raises(UnicodeDecodeError):
        (sample / "complaints.csv").read_bytes().decode("utf-8")
    assert (sample / "inspectors.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    assert len({r["超标记录编号"] for r in ex}) == len(ex)
    assert len({r["投诉编号"] for r in co}) == len(co)
    for r in ex:
        assert float(r["监测值"]) > float(r["标准限值"]) > 0
        assert parse_date(r["超标日期"][:10]) is not None and r["超标日期"][10:13] != ""
    years = Counter(parse_date(r["投诉日期"]).year for r in co)  # type: ignore[union-attr]
    assert set(years) == {2021, 2022, 2023, 2024, 2025}
    assert set(r["投诉类别"] for r in co) == {"废气", "废水", "噪声", "固废"}
    counties = set(divisions.loc[divisions["level"] == "county", "adcode"])
    assert {r["所属单位行政区划代码"] for r in ro} == counties  # a roster in every county
    assert len({r["执法证号"] for r in ro}) == len(ro)
    inspection_names = {
        n for r in table(sample / "inspections.csv") for n in r["执法人员"].split(",")
    }
    assert {r["姓名"] for r in ro} >= inspection_names
    assert 0.0 < sum(r["在岗"] == "否" for r in ro) / len(ro) < 0.1


def test_roster_exclusions_name_enterprises_of_the_officers_county(sample: Path) -> None:
    from geo_service.ingest.roster import split_credit_codes

    ro = table(sample / "inspectors.csv")
    codes = {r["credit_code"] for r in table(sample / "enterprises.csv")}
    excluding = [r for r in ro if r["回避单位"]]
    assert 0.01 < len(excluding) / len(ro) < 0.06
    for r in excluding:
        excluded = split_credit_codes(r["回避单位"])
        assert 1 <= len(excluded) <= 3 and set(excluded) <= codes
        assert all(c[2:8] == r["所属单位行政区划代码"] for c in excluded)


def test_exceedances_and_complaints_favour_the_risky(sample: Path) -> None:
    doc = truth(sample)
    firms = {p["record_id"]: p for p in truth_points(sample) if p["kind"] == "enterprises"}
    of = {(t["kind"], t["record_id"]): t["credit_code"] for t in truth_links(sample)}
    hot = {c for c, p in firms.items() if any(in_spot(p, s) for s in doc["hot_spots"])}
    base = len(hot) / len(firms)
    ex = [of["exceedances", r["超标记录编号"]] for r in table(sample / "exceedances.csv")]
    assert all(ex)
    assert sum(c in hot for c in ex) / len(ex) > 2.0 * base
    named = [
        of["complaints", r["投诉编号"]] for r in table(sample / "complaints.csv") if r["被投诉单位"]
    ]
    assert all(named) and len(named) > 0.4 * SIZES["n_cases"] * 0.4
    assert sum(c in hot for c in named) / len(named) > 1.5 * base
    worse = {c["adcode"] for c in doc["worsening_counties"]["counties"]}
    by_year: Counter[int] = Counter()
    for r in table(sample / "exceedances.csv"):
        if of["exceedances", r["超标记录编号"]][2:8] in worse:
            by_year[int(r["超标日期"][:4])] += 1
    assert by_year[2024] + by_year[2025] > 1.5 * (by_year[2022] + by_year[2023])
