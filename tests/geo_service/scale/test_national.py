"""National boundaries (sample_geodata/china_divisions.geojson.gz) and a multi-province sample.

The national file is read once per module; the sample over three provinces is
generated and ingested once into a SQLite store holding the national divisions.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from sqlalchemy import Engine, create_engine, text
from typer.testing import CliRunner

from geo_service.cli import app
from geo_service.core.paths import BUNDLED_DIVISIONS, NATIONAL_DIVISIONS
from geo_service.core.settings import get_settings
from geo_service.geocoding import Gazetteer
from geo_service.sample import SampleError, vocab, write_sample
from geo_service.sample.regions import COMMON_TOWNS, COMMON_VILLAGES, PROVINCE_WATERS
from geo_service.store import make_engine, migrate
from geo_service.store.boundaries import divisions_path, load_divisions, read_divisions_file

COUNTS = {"province": 31, "city": 341, "county": 2848}
THREE = ("450000", "440000", "530000")
KINDS = ("enterprises", "cases", "inspections")
ALBERS = "+proj=aea +lat_0=0 +lon_0=105 +lat_1=25 +lat_2=47 +datum=WGS84 +units=m +no_defs"


@pytest.fixture(scope="module")
def national() -> gpd.GeoDataFrame:
    return read_divisions_file(NATIONAL_DIVISIONS).set_index("adcode", drop=False)


@pytest.fixture(scope="module")
def counties(national: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    return national[national["level"] == "county"]


def test_bundled_names_resolve_to_the_files() -> None:
    assert divisions_path("china") == NATIONAL_DIVISIONS
    assert divisions_path("guangxi") == BUNDLED_DIVISIONS
    assert divisions_path("x/y.gpkg") == Path("x/y.gpkg")
    assert NATIONAL_DIVISIONS.stat().st_size < 20e6


def test_counts_by_level_and_unique_codes(national: gpd.GeoDataFrame) -> None:
    assert dict(Counter(national["level"])) == COUNTS
    assert national["adcode"].is_unique
    assert national["adcode"].str.fullmatch(r"\d{6}").all()
    assert national.geometry.is_valid.all() and not national.geometry.is_empty.any()
    assert set(national.geom_type) == {"MultiPolygon"}
    excluded = {"710000", "810000", "820000"}  # Taiwan, Hong Kong, Macao
    assert not excluded & set(national["province_adcode"])


def test_every_county_has_one_city_and_one_province(
    national: gpd.GeoDataFrame, counties: gpd.GeoDataFrame
) -> None:
    cities = national[national["level"] == "city"]
    provinces = national[national["level"] == "province"]
    assert (counties["parent_adcode"] == counties["city_adcode"]).all()
    assert counties["city_adcode"].isin(cities.index).all()
    assert counties["province_adcode"].isin(provinces.index).all()
    city_province = cities["province_adcode"].reindex(counties["city_adcode"]).to_numpy()
    assert (city_province == counties["province_adcode"].to_numpy()).all()
    assert (cities["parent_adcode"] == cities["province_adcode"]).all()
    assert set(counties["city_adcode"]) == set(cities.index)  # no city without a county
    assert provinces["parent_adcode"].isna().all() and provinces["city_adcode"].isna().all()


def test_special_cases(national: gpd.GeoDataFrame) -> None:
    row = national.loc
    # municipalities: one city holding every district (Chongqing's coded 500100)
    assert row["110100", "name"] == "北京市" and row["110101", "city_adcode"] == "110100"
    assert row["500100", "name"] == "重庆市" and row["500101", "city_adcode"] == "500100"
    assert row["500240", "city_adcode"] == "500100"  # 石柱土家族自治县
    # county-level units administered by their province, grouped in PP9000
    for county, group in [
        ("429004", "429000"),
        ("419001", "419000"),
        ("469002", "469000"),
        ("659001", "659000"),
    ]:
        assert row[county, "level"] == "county" and row[county, "city_adcode"] == group
        assert row[group, "level"] == "city" and row[group, "name"].endswith("直辖县级行政区划")
    # prefecture cities without counties: the city keeps its code, its one county CCCC01
    for city, name in [
        ("441900", "东莞市"),
        ("442000", "中山市"),
        ("620200", "嘉峪关市"),
        ("460400", "儋州市"),
    ]:
        county = city[:4] + "01"
        assert row[city, "name"] == name and row[county, "name"] == name
        assert row[county, "city_adcode"] == city
        assert shapely.equals(row[city, "geometry"], row[county, "geometry"])


def test_representative_points_nest_in_city_and_province(
    national: gpd.GeoDataFrame, counties: gpd.GeoDataFrame
) -> None:
    points = shapely.point_on_surface(counties.geometry.to_numpy())
    for column in ("city_adcode", "province_adcode"):
        parents = national.geometry.reindex(counties[column]).to_numpy()
        assert shapely.contains(parents, points).all(), column


def test_cities_and_provinces_are_unions_of_their_counties(
    national: gpd.GeoDataFrame, counties: gpd.GeoDataFrame
) -> None:
    area = national.to_crs(ALBERS).area
    county_area = area[counties.index]
    for column, level in (("city_adcode", "city"), ("province_adcode", "province")):
        summed = county_area.groupby(counties[column].to_numpy()).sum()
        parents = area[national["level"] == level]
        np.testing.assert_allclose(summed.reindex(parents.index), parents, rtol=1e-6)
    assert area[national["level"] == "province"].sum() == pytest.approx(9.43e12, rel=0.02)


def test_neighbouring_counties_do_not_overlap(counties: gpd.GeoDataFrame) -> None:
    geoms = counties.geometry.to_numpy()
    assert shapely.coverage_is_valid(geoms)  # shared edges identical, no overlaps
    tree = shapely.STRtree(geoms)
    left, right = tree.query(geoms, predicate="overlaps")
    pairs = left < right
    overlap = shapely.area(shapely.intersection(geoms[left[pairs]], geoms[right[pairs]]))
    assert overlap.sum() < 1e-8  # square degrees, about 0.1 km² in all


def test_guangxi_in_the_national_file_matches_the_guangxi_file(
    national: gpd.GeoDataFrame,
) -> None:
    guangxi = read_divisions_file(BUNDLED_DIVISIONS).set_index("adcode", drop=False)
    mine = national[national["province_adcode"] == "450000"]
    assert sorted(mine.index) == sorted(guangxi.index)
    cols = ["name", "level", "parent_adcode", "city_adcode", "province_adcode"]
    pd.testing.assert_frame_equal(
        pd.DataFrame(mine[cols]).sort_index(), pd.DataFrame(guangxi[cols]).sort_index()
    )
    a = mine.to_crs(ALBERS).area.sort_index()
    b = guangxi.to_crs(ALBERS).area.sort_index()
    assert float(((a - b).abs() / b).max()) < 0.03


def _cli(monkeypatch: pytest.MonkeyPatch, url: str, *args: str) -> dict[str, Any]:
    monkeypatch.setenv("GEO_DATABASE_URL", url)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, list(args))
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _stored_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT level, count(*) FROM jurisdictions GROUP BY level"))
        return {str(level): int(n) for level, n in rows}


def test_init_loads_the_national_boundaries_into_sqlite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'geo.db'}"
    assert _cli(monkeypatch, url, "init", "--boundaries", "china")["jurisdictions"] == 3220
    engine = create_engine(url)
    assert _stored_counts(engine) == COUNTS
    assert _cli(monkeypatch, url, "init")["jurisdictions"] == 126  # back to Guangxi
    engine.dispose()


@pytest.mark.postgis
def test_national_boundaries_load_into_postgis(national: gpd.GeoDataFrame) -> None:
    from tests.conftest import _postgres_database, _unavailable

    try:
        engine = make_engine(_postgres_database("national"))
        migrate(engine)
    except Exception as exc:  # connection refused, missing extension, ...
        _unavailable(str(exc).splitlines()[0])
    try:
        assert load_divisions(engine, national.reset_index(drop=True)) == 3220
        assert _stored_counts(engine) == COUNTS
    finally:
        engine.dispose()


def test_unknown_province_is_refused(tmp_path: Path, national: gpd.GeoDataFrame) -> None:
    with pytest.raises(SampleError, match="990000"):
        write_sample(
            tmp_path,
            n_enterprises=10,
            n_cases=0,
            n_inspections=0,
            divisions=national.reset_index(drop=True),
            provinces=["990000"],
        )


@pytest.fixture(scope="module")
def three(tmp_path_factory: pytest.TempPathFactory, national: gpd.GeoDataFrame) -> dict[str, Any]:
    """A small sample over Guangxi, Guangdong and Yunnan, ingested into a national store."""
    from geo_service.ingest import IngestOptions, ingest_file

    out = tmp_path_factory.mktemp("three")
    write_sample(
        out / "sample",
        seed=7,
        n_enterprises=900,
        n_cases=700,
        n_inspections=900,
        divisions=national.reset_index(drop=True),
        provinces=list(THREE),
    )
    engine = make_engine(f"sqlite:///{out / 'geo.db'}")
    migrate(engine)
    load_divisions(engine, national.reset_index(drop=True))
    summaries = {}
    for kind in KINDS:
        options = IngestOptions(
            kind=kind,
            rejects_path=out / f"{kind}.rejects.csv",
            progress=False,
            today=dt.date(2026, 11, 28),
        )
        summaries[kind] = ingest_file(engine, out / "sample" / f"{kind}.csv", options)
    return {"out": out, "engine": engine, "summaries": summaries}


@pytest.mark.parametrize("kind", KINDS)
def test_three_province_sample_ingests_with_the_planted_rejects(
    three: dict[str, Any], kind: str
) -> None:
    out: Path = three["out"]
    summary = three["summaries"][kind]
    expected = pd.read_csv(out / "sample" / "expected_rejects.csv", dtype={"row_number": int})
    expected = expected[expected["file"] == f"{kind}.csv"].set_index("row_number")["reason"]
    got = pd.read_csv(out / f"{kind}.rejects.csv", encoding="utf-8-sig", dtype=str)
    got = got.set_index(got["row_number"].astype(int))["reason"]
    assert got.sort_index().to_dict() == expected.sort_index().to_dict()
    assert summary["accepted"] + summary["rejected"] == summary["rows"]
    # the register: 900 entries and 3 more whose codes fail the GB 32100 check
    assert summary["rows"] == {"enterprises": 903, "cases": 700, "inspections": 900}[kind]
    # one of each planted reason (Beijing is inside a national store: "outside" is Tokyo here)
    assert summary["rejected"] == {"enterprises": 3, "cases": 7, "inspections": 6}[kind]
    if kind != "enterprises":
        assert "bad_coordinates" in set(got) and "unlocatable" in set(got)


def test_three_province_records_stay_in_their_provinces(three: dict[str, Any]) -> None:
    engine: Engine = three["engine"]
    truth = pd.read_csv(three["out"] / "sample" / "truth_points.csv", dtype=str)
    with engine.connect() as conn:
        register = pd.read_sql(text("SELECT adcode, province_adcode FROM enterprises"), conn)
        assert len(register) == 900 and set(register["province_adcode"]) == set(THREE)
        assert (register["adcode"].str[:2] == register["province_adcode"].str[:2]).all()
        for kind, key in (("cases", "case_id"), ("inspections", "inspection_id")):
            stored = pd.read_sql(
                text(
                    f"SELECT {key} AS record_id, adcode AS s_adcode, city_adcode, "
                    f"province_adcode, geocode_precision FROM {kind}"
                ),
                conn,
            )
            assert set(stored["province_adcode"]) == set(THREE), kind
            mine = truth[truth["kind"] == kind].merge(stored, on="record_id")
            assert len(mine) == len(stored)
            county = mine["expected_precision"] != "city"
            located = mine[county]
            assert (located["s_adcode"].str[:2] == located["province_adcode"].str[:2]).all()
            assert (mine.loc[county, "s_adcode"] == mine.loc[county, "expected_adcode"]).all()
            assert (mine.loc[~county, "city_adcode"] == mine.loc[~county, "expected_adcode"]).all()
            assert (mine["geocode_precision"] == mine["expected_precision"]).all()


def test_register_names_and_addresses_fit_their_province(three: dict[str, Any]) -> None:
    register = pd.read_csv(three["out"] / "sample" / "enterprises.csv", dtype=str)
    province = register["credit_code"].str[2:4]
    assert set(province) == {"45", "44", "53"}
    heads = {"45": "广西壮族自治区", "44": "广东省", "53": "云南省"}
    for code, head in heads.items():
        addresses = register.loc[province == code, "address"].dropna()
        assert addresses.str.startswith(head).mean() > 0.9, code
    names = register.loc[province == "53", "name"]
    assert names.str.startswith("广西").sum() == 0 and names.str.startswith("云南").sum() > 0


def test_place_and_water_names_fit_their_province(three: dict[str, Any]) -> None:
    """Towns, villages and rivers of Guangdong's and Yunnan's records are not Guangxi's."""
    guangxi_only = [
        w
        for w in (*vocab.TOWNS, *vocab.VILLAGES, *vocab.WATERS)
        if w not in (*COMMON_TOWNS, *COMMON_VILLAGES, *vocab.WATERS[-3:])
    ]
    register = pd.read_csv(three["out"] / "sample" / "enterprises.csv", dtype=str)
    province = register["credit_code"].str[2:4]
    for code in ("44", "53"):
        addresses = register.loc[province == code, "address"].dropna()
        assert not addresses.apply(lambda a: any(w in a for w in guangxi_only)).any(), code
        assert addresses.str.contains("|".join(COMMON_TOWNS)).any(), code
    with three["engine"].connect() as conn:
        texts = pd.read_sql(
            text(
                "SELECT province_adcode, description FROM cases UNION ALL "
                "SELECT province_adcode, description FROM inspections"
            ),
            conn,
        )
    for code in ("440000", "530000"):
        mine = texts.loc[texts["province_adcode"] == code, "description"].dropna()
        rivers = "|".join(PROVINCE_WATERS[code[:2]])
        foreign = [w for w in guangxi_only if w not in PROVINCE_WATERS[code[:2]]]  # 西江: both
        assert not mine.apply(lambda t, f=foreign: any(w in t for w in f)).any(), code
        assert mine.str.contains(rivers).any(), code  # their own rivers are named
    guangxi = texts.loc[texts["province_adcode"] == "450000", "description"].dropna()
    assert guangxi.str.contains("|".join(vocab.WATERS[:-3])).any()


def test_addresses_of_other_provinces_geocode_to_the_right_county(
    national: gpd.GeoDataFrame,
) -> None:
    gazetteer = Gazetteer(national[["adcode", "name", "level", "city_adcode"]])
    cases = {
        "广东省广州市天河区天河路88号": ("440106", "county"),
        "广东省东莞市长安镇振安路3号": ("441901", "county"),
        "云南省昆明市五华区人民路12号": ("530102", "county"),
        "湖北省仙桃市干河街道88号": ("429004", "county"),
        "北京市朝阳区建国路1号": ("110105", "county"),
        "吉林省长春市朝阳区红旗街1号": ("220104", "county"),
        "重庆市万州区白岩路2号": ("500101", "county"),
        "云南省昆明市某某路88号": ("530100", "city"),
    }
    for address, (adcode, precision) in cases.items():
        match = gazetteer.resolve(address)
        assert match is not None and (match.adcode, match.precision) == (adcode, precision), address


def test_multi_province_sample_is_deterministic(tmp_path: Path, national: gpd.GeoDataFrame) -> None:
    kwargs: dict[str, Any] = {
        "seed": 3,
        "n_enterprises": 200,
        "n_cases": 150,
        "n_inspections": 150,
        "divisions": national.reset_index(drop=True),
        "provinces": ["110000", "420000"],
    }
    write_sample(tmp_path / "a", **kwargs)
    write_sample(tmp_path / "b", **kwargs)
    for name in ("enterprises.csv", "cases.csv", "inspections.csv", "truth.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    truth = json.loads((tmp_path / "a" / "truth.json").read_text(encoding="utf-8"))
    assert truth["provinces"] == {"110000": "北京市", "420000": "湖北省"}
    assert {h["key"] for h in truth["hot_spots"]} == {"hot:110000", "hot:420000"}
    register = pd.read_csv(tmp_path / "a" / "enterprises.csv", dtype=str)
    beijing = register[register["credit_code"].str[2:4] == "11"]["address"]
    assert beijing.str.startswith("北京市").all() and not beijing.str.contains("北京市北京市").any()


def test_city_marks_of_case_numbers_are_unique(national: gpd.GeoDataFrame) -> None:
    from geo_service.sample.places import make_geography
    from geo_service.sample.regions import city_abbreviations

    geo = make_geography(national.reset_index(drop=True))
    marks = city_abbreviations(geo)
    assert len(marks) == 341 and len(set(marks.values())) == 341
    assert marks["450100"] == "邕" and marks["440300"] == "粤深" and marks["429000"] == "鄂直"
