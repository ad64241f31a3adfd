"""Hand-built input files with every kind of bad row, and what the ingest must make of them."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np

from analytics.coords import from_wgs84

CASE_HEADERS_ZH = [
    "案件编号",
    "处罚决定日期",
    "当事人",
    "统一社会信用代码",
    "行业代码",
    "地址",
    "经度",
    "纬度",
    "坐标系",
    "违法类型",
    "违法事实",
    "罚款金额",
    "备注",
]
ENTERPRISE_HEADERS = [
    "credit_code",
    "name",
    "industry_code",
    "address",
    "lon",
    "lat",
    "crs",
    "category",
]
# Valid GB 32100 codes (check digits computed by hand for these tests).
CODES = ["91450100MA5K8XY394", "91450200MA5L0ABC06", "91450300MA5M1DEF9B"]


@dataclass
class Expected:
    """What the ingest must do with each data row (row number → outcome)."""

    reasons: dict[int, str] = field(default_factory=dict)  # rejected rows
    county: dict[int, str | None] = field(default_factory=dict)  # accepted rows → county adcode
    city: dict[int, str] = field(default_factory=dict)
    method: dict[int, str] = field(default_factory=dict)
    precision: dict[int, str] = field(default_factory=dict)
    true_lonlat: dict[int, tuple[float, float]] = field(default_factory=dict)
    swapped: set[int] = field(default_factory=set)
    rows: int = 0


def county_points(divisions: gpd.GeoDataFrame) -> dict[str, tuple[float, float, str]]:
    """A point well inside each county: adcode → (lon, lat, city_adcode)."""
    counties = divisions[divisions["level"] == "county"]
    metric = counties.to_crs(32649)
    shrunk = metric.geometry.buffer(-1000)
    shrunk = shrunk.where(~shrunk.is_empty, metric.geometry)
    inner = shrunk.representative_point().to_crs(4326)
    return {
        a: (p.x, p.y, c)
        for a, p, c in zip(counties["adcode"], inner, counties["city_adcode"], strict=True)
    }


def write_enterprises(path: Path, divisions: gpd.GeoDataFrame) -> dict[str, str]:
    """A small register (UTF-8, English headers): three enterprises with WGS84 points."""
    pts = county_points(divisions)
    places = ["450103", "450202", "450304"]  # 青秀区, 城中区, 象山区
    names = ["南宁青秀化工有限责任公司", "柳州城中钢铁有限公司", "桂林象山制糖厂"]
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(ENTERPRISE_HEADERS)
        for code, name, place in zip(CODES, names, places, strict=True):
            lon, lat, _ = pts[place]
            w.writerow(
                [
                    code,
                    name,
                    "C2614",
                    f"广西壮族自治区某地{name}",
                    f"{lon:.7f}",
                    f"{lat:.7f}",
                    "WGS84",
                    "重点排污单位",
                ]
            )
    return dict(zip(CODES, places, strict=True))


def write_messy_cases(
    path: Path, divisions: gpd.GeoDataFrame, encoding: str = "gb18030"
) -> Expected:
    """A cases file (GBK, Chinese headers) with good rows in four CRSs and one of every bad row."""
    pts = county_points(divisions)
    exp = Expected()
    rows: list[list[str]] = []

    def add(cells: list[str], reason: str | None = None) -> int:
        rows.append(cells)
        number = len(rows) + 1  # header is row 1
        if reason:
            exp.reasons[number] = reason
        return number

    def case(
        i: int,
        date: str = "2024-05-04",
        name: str = "",
        code: str = "",
        address: str = "",
        lon: str = "",
        lat: str = "",
        crs: str = "",
        amount: str = "5万元",
    ) -> list[str]:
        note = "复查" if i % 5 == 0 else ""  # an unknown column: kept as an attribute
        return [
            f"桂环罚〔2024〕{i}号",
            date,
            name,
            code,
            "C2614",
            address,
            lon,
            lat,
            crs,
            "超标排放",
            "废水超标排放",
            amount,
            note,
        ]

    good_places = ["450103", "450202", "450304", "450403", "450502", "451002", "451302", "450181"]
    crs_cycle = [
        ("WGS84", "WGS84"),
        ("GCJ02", "GCJ-02"),
        ("BD09", "百度"),
        ("CGCS2000", "EPSG:4490"),
    ]
    for i, place in enumerate(good_places * 2):
        lon, lat, city = pts[place]
        name, label = crs_cycle[i % 4]
        x, y = from_wgs84(np.array([lon]), np.array([lat]), name)
        date = ["2024-05-04", "2024/5/4", "2024年5月4日", "20240504"][i % 4]
        n = add(case(i, lon=f"{x[0]:.8f}", lat=f"{y[0]:.8f}", crs=label, date=date))
        exp.county[n], exp.city[n], exp.true_lonlat[n] = place, city, (lon, lat)
        exp.method[n], exp.precision[n] = "coordinates", "point"
    lon, lat, city = pts["450305"]
    n = add(case(100, lon=f"{lat:.8f}", lat=f"{lon:.8f}", crs="WGS84"))  # swapped lon/lat
    exp.county[n], exp.city[n], exp.true_lonlat[n] = "450305", city, (lon, lat)
    exp.method[n], exp.precision[n] = "coordinates", "point"
    exp.swapped.add(n)
    n = add(case(101, code=CODES[1]))  # only a credit code → register
    exp.county[n], exp.city[n], exp.method[n], exp.precision[n] = (
        "450202",
        "450200",
        "register",
        "point",
    )
    n = add(case(102, name="广西 南宁青秀化工有限公司"))  # name variant → register
    exp.county[n], exp.city[n], exp.method[n], exp.precision[n] = (
        "450103",
        "450100",
        "register",
        "point",
    )
    n = add(case(103, address="广西壮族自治区桂林市象山区中山南路8号"))  # address → county
    exp.county[n], exp.city[n], exp.method[n], exp.precision[n] = (
        "450304",
        "450300",
        "address",
        "county",
    )
    n = add(case(104, address="柳州市某工业园区内"))  # address → city only
    exp.county[n], exp.city[n], exp.method[n], exp.precision[n] = None, "450200", "address", "city"
    # one row of every reason
    add(case(200, date=""), "missing_required")
    add(case(201, date="2024-13-45"), "bad_date")
    add(case(202, date="2024-02-30"), "bad_date")
    add(case(203, lon="108.3x", lat="22.8", crs="WGS84"), "bad_coordinates")
    add(case(204, lon="116.397", lat="39.909", crs="WGS84"), "bad_coordinates")  # Beijing
    add(case(205, lon="108.3", lat="123.0", crs="WGS84"), "bad_coordinates")  # out of range
    add(case(206, lon="108.3", lat="22.8", crs="UTM"), "bad_coordinates")  # unknown CRS
    add(case(3, lon="108.3", lat="22.8", crs="WGS84"), "duplicate_id")  # id of good row 3
    add(case(207, amount="abc元", code=CODES[0]), "bad_amount")
    add(case(208, amount="-500", code=CODES[0]), "bad_amount")
    add(
        case(209, name="不存在的公司", code="91450000000000000X", address="某某路88号"),
        "unlocatable",
    )
    rows.append([*case(210), "extra field"])
    exp.reasons[len(rows) + 1] = "malformed_row"
    with path.open("w", encoding=encoding, newline="") as fh:
        w = csv.writer(fh)
        w.writerow(CASE_HEADERS_ZH)
        w.writerows(rows)
    exp.rows = len(rows)
    return exp
