"""Checks of the bundled Guangxi boundaries (sample_geodata/guangxi_divisions.geojson)."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from numpy.testing import assert_allclose

BUNDLED = Path(__file__).resolve().parents[2] / "sample_geodata" / "guangxi_divisions.geojson"
PROPERTIES = ["adcode", "name", "level", "parent_adcode", "city_adcode", "province_adcode"]
#: Equal-area projection centred on Guangxi, for area comparisons.
GUANGXI_ALBERS = "+proj=aea +lat_0=23.5 +lon_0=108.3 +lat_1=21.5 +lat_2=25.5 +datum=WGS84"


@pytest.fixture(scope="module")
def divisions() -> gpd.GeoDataFrame:
    return gpd.read_file(BUNDLED)


@pytest.fixture(scope="module")
def projected(divisions: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    return divisions.to_crs(GUANGXI_ALBERS).set_index("adcode")


def test_schema_and_crs(divisions):
    assert list(divisions.columns) == [*PROPERTIES, "geometry"]
    assert divisions.crs.to_epsg() == 4326
    assert divisions["adcode"].is_monotonic_increasing


def test_counts_per_level(divisions):
    assert divisions["level"].value_counts().to_dict() == {"county": 111, "city": 14, "province": 1}


def test_geometries_are_valid_multipolygons_in_guangxi(divisions):
    assert divisions.is_valid.all()
    assert not divisions.is_empty.any()
    assert set(divisions.geom_type) == {"MultiPolygon"}
    lon_min, lat_min, lon_max, lat_max = divisions.total_bounds
    assert 104.4 < lon_min < lon_max < 112.1
    assert 20.9 < lat_min < lat_max < 26.4


def test_adcodes_are_unique_six_digit_strings(divisions):
    assert divisions["adcode"].is_unique
    assert divisions["adcode"].str.fullmatch(r"45\d{4}").all()
    assert (divisions["province_adcode"] == "450000").all()


def test_hierarchy(divisions):
    by_level = {level: rows for level, rows in divisions.groupby("level")}
    province = by_level["province"].iloc[0]
    assert (province["adcode"], province["name"]) == ("450000", "广西壮族自治区")
    assert pd.isna(province["parent_adcode"]) and pd.isna(province["city_adcode"])

    cities = by_level["city"]
    assert (cities["parent_adcode"] == "450000").all()
    assert (cities["city_adcode"] == cities["adcode"]).all()
    assert cities["adcode"].str.endswith("00").all()

    counties = by_level["county"]
    assert counties["city_adcode"].isin(set(cities["adcode"])).all()
    assert (counties["parent_adcode"] == counties["city_adcode"]).all()
    assert (counties["adcode"].str[:4] == counties["city_adcode"].str[:4]).all()


@pytest.mark.parametrize(
    ("adcode", "name"),
    [
        ("450100", "南宁市"),
        ("450103", "青秀区"),
        ("450110", "武鸣区"),
        ("450181", "横州市"),  # 横县 until 2021 (450127)
        ("450202", "城中区"),
        ("450304", "象山区"),
        ("451082", "平果市"),
        ("451031", "隆林各族自治县"),
    ],
)
def test_names(divisions, adcode, name):
    assert divisions.set_index("adcode").loc[adcode, "name"] == name


def test_counties_lie_within_and_tile_their_city(projected):
    counties = projected[projected["level"] == "county"]
    cities = projected.loc[counties["city_adcode"]].geometry.to_numpy()
    inside = shapely.area(shapely.intersection(counties.geometry.to_numpy(), cities))
    assert (inside / counties.area.to_numpy()).min() >= 0.99
    for city_adcode, members in counties.groupby("city_adcode"):
        city = projected.loc[city_adcode].geometry
        union = shapely.union_all(members.geometry.to_numpy())
        assert_allclose(members.area.sum(), city.area, rtol=1e-6)  # no overlaps ...
        assert shapely.symmetric_difference(union, city).area < 1e-6 * city.area  # ... no gaps


# Points chosen well inside their county (1.4-16 km from its boundary).
@pytest.mark.parametrize(
    ("lon", "lat", "adcode", "city_adcode"),
    [
        (108.40, 22.80, "450103", "450100"),  # 南宁 青秀区, east of the city centre
        (108.27, 23.16, "450110", "450100"),  # 南宁 武鸣区
        (109.46, 24.36, "450202", "450200"),  # 柳州 城中区
        (110.27, 25.21, "450304", "450300"),  # 桂林 象山区
        (109.11, 21.04, "450502", "450500"),  # 北海 海城区, on 涠洲岛 island
        (106.62, 23.90, "451002", "451000"),  # 百色 右江区
    ],
)
def test_known_points_fall_in_the_right_county(divisions, lon, lat, adcode, city_adcode):
    hits = divisions[divisions.contains(shapely.Point(lon, lat))]
    assert sorted(hits["adcode"]) == sorted(["450000", city_adcode, adcode])


def test_a_point_in_guangdong_is_in_no_division(divisions):
    assert not divisions.contains(shapely.Point(113.26, 23.13)).any()  # Guangzhou
