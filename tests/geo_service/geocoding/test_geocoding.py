"""Addresses resolve to the finest division they name, never finer; names match their variants."""

from __future__ import annotations

import pandas as pd
import pytest
from sqlalchemy import Engine

from geo_service.geocoding import Gazetteer, normalize_company_name
from geo_service.geocoding.names import normalize_company_names
from geo_service.store.boundaries import read_divisions


@pytest.fixture(scope="module")
def gazetteer(sqlite_store: Engine) -> Gazetteer:
    table = read_divisions(sqlite_store).table
    return Gazetteer(table[["adcode", "name", "level", "city_adcode"]])


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("广西壮族自治区南宁市青秀区民族大道100号", ("450103", "county")),
        ("青秀区民族大道100号", ("450103", "county")),
        ("广西横州市六景工业园区", ("450181", "county")),
        ("百色市隆林各族自治县新州镇", ("451031", "county")),
        ("北海市海城区", ("450502", "county")),
        ("防城港市港口区渔洲坪", ("450602", "county")),
        ("柳州市城中村改造片区", ("450200", "city")),  # 城中村 is not 城中区
        ("柳州市某工业园", ("450200", "city")),
        ("南宁市柳南区", ("450100", "city")),  # 柳南区 is in 柳州市: contradiction → the city named
        ("柳南区, 鱼峰区交界处", ("450200", "city")),  # two counties of one city
        ("广西壮族自治区", None),  # province only: not precise enough
        ("某某路88号", None),
        ("广东省广州市天河区", None),
        ("", None),
    ],
)
def test_addresses(gazetteer: Gazetteer, address: str, expected: tuple[str, str] | None) -> None:
    match = gazetteer.resolve(address)
    assert (None if match is None else (match.adcode, match.precision)) == expected


def test_resolve_many_matches_resolve(gazetteer: Gazetteer) -> None:
    addresses = pd.Series(["桂林市象山区", None, "某地", "桂林市象山区"])
    got = gazetteer.resolve_many(addresses)
    assert got["adcode"].tolist() == ["450304", None, None, "450304"]
    assert got["precision"].tolist() == ["county", None, None, "county"]


@pytest.mark.parametrize(
    "variant",
    [
        "广西南宁青秀化工有限公司",
        "南宁青秀化工有限责任公司",
        " 南宁 青秀化工有限公司 ",
        "广西壮族自治区南宁青秀化工有限公司",
        "南宁青秀化工有限公司",
    ],
)
def test_company_name_variants_share_one_key(variant: str) -> None:
    assert normalize_company_name(variant) == normalize_company_name("南宁青秀化工有限公司")


def test_different_companies_keep_different_keys() -> None:
    assert normalize_company_name("南宁青秀化工有限公司") != normalize_company_name(
        "南宁江南化工有限公司"
    )
    assert normalize_company_name("广西糖业(集团)股份有限公司") == normalize_company_name(
        "糖业集团股份公司"
    )


def test_a_column_of_names_is_normalised_name_by_name() -> None:
    """The column form gives each name's own key ("" where missing or blank), twice in
    a row (the second time from the names it remembers), keeping index, name and dtype."""
    names = pd.Series(
        [
            "广西 南宁（青秀）化工有限责任公司",
            None,
            "  ",
            "南宁(青秀)化工有限公司",
            "甲公司",
            "甲公司",
        ],
        index=[5, 3, 9, 1, 2, 8],
        name="enterprise_name",
        dtype="str",
    )
    expected = [
        normalize_company_name(n) if isinstance(n, str) and n.strip() else "" for n in names
    ]
    for _ in range(2):
        got = normalize_company_names(names)
        assert got.tolist() == expected
        assert got.index.tolist() == [5, 3, 9, 1, 2, 8]
        assert got.name == "enterprise_name" and got.dtype == "str"
    assert expected[0] == expected[3] == "南宁青秀化工有限公司"
