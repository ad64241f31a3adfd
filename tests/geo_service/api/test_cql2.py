"""OGC API - Features Part 3 (CQL2 filters), sortby and properties on the items routes.

Each filter's answer is compared with the same condition computed by pandas over the
caller's whole collection, on SQLite and on PostGIS; filters only narrow the caller's
scope; bad expressions are a 400 naming the problem.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pandas as pd
import pytest
import shapely
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from geo_service.api.app import create_app
from geo_service.core.cql2 import parse_filter
from geo_service.core.errors import BadFilterError
from geo_service.core.filters import Filters
from geo_service.core.settings import Settings
from geo_service.store.queries import read_records, record_queryables
from tests.conftest import account_headers

CITY, COUNTY = "450100", "450102"
TRIANGLE = "POLYGON((108.2 22.7, 108.5 22.7, 108.35 22.95, 108.2 22.7))"


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgis", marks=pytest.mark.postgis)]
)
def world(request: pytest.FixtureRequest) -> dict[str, Any]:
    fixture = "built_sample_store" if request.param == "sqlite" else "built_postgis_sample_store"
    engine: Engine = request.getfixturevalue(fixture)
    url = engine.url.render_as_string(hide_password=False)
    settings = Settings(database_url=url, rate_limit_per_minute=0, tile_rate_limit_per_minute=0)
    return {
        "client": TestClient(create_app(settings)),
        "city": account_headers(engine, "gis", CITY),
        "county": account_headers(engine, "gis", COUNTY),
        "cases": read_records(engine, "cases", Filters(jurisdiction=CITY)),
    }


def _all(world: dict[str, Any], headers: str, **params: str) -> list[dict[str, Any]]:
    """Every feature the items route gives for ``params``, following the next links."""
    client: TestClient = world["client"]
    url = "/collections/cases/items"
    query: dict[str, str] | None = {"limit": "1000", **params}
    features: list[dict[str, Any]] = []
    while url:
        answer = client.get(url, params=query, headers=world[headers])
        assert answer.status_code == 200, answer.text
        doc = answer.json()
        features += doc["features"]
        nexts = [link["href"] for link in doc["links"] if link["rel"] == "next"]
        url, query = (nexts[0], None) if nexts else ("", None)
    return features


def _ids(features: list[dict[str, Any]]) -> set[str]:
    return {f["id"] for f in features}


def _expected(world: dict[str, Any], keep: Callable[[pd.DataFrame], pd.Series]) -> set[str]:
    cases: pd.DataFrame = world["cases"]
    return set(cases.loc[keep(cases).fillna(False).astype(bool), "case_id"])


def _dates(cases: pd.DataFrame) -> pd.Series:
    return pd.to_datetime(cases["decision_date"].astype(str))


FILTERS: list[tuple[str, Callable[[pd.DataFrame], pd.Series]]] = [
    ("penalty_amount BETWEEN 10000 AND 50000", lambda c: c.penalty_amount.between(1e4, 5e4)),
    (
        "penalty_amount >= 100000 OR penalty_amount < 1000",
        lambda c: (c.penalty_amount >= 1e5) | (c.penalty_amount < 1e3),
    ),
    ("enterprise_name LIKE '%化工%'", lambda c: c.enterprise_name.str.contains("化工")),
    (
        "NOT enterprise_name LIKE '%公司'",
        lambda c: ~c.enterprise_name.fillna("").str.endswith("公司") & c.enterprise_name.notna(),
    ),
    ("enterprise_name IS NULL", lambda c: c.enterprise_name.isna()),
    (
        "decision_date >= DATE('2023-01-01') AND decision_date < DATE('2023-07-01')",
        lambda c: (_dates(c) >= "2023-01-01") & (_dates(c) < "2023-07-01"),
    ),
    (
        "T_DURING(decision_date, INTERVAL('2022-03-01','2022-05-31'))",
        lambda c: (_dates(c) > "2022-03-01") & (_dates(c) < "2022-05-31"),
    ),
    ("T_AFTER(decision_date, DATE('2024-06-30'))", lambda c: _dates(c) > "2024-06-30"),
    (
        f"S_INTERSECTS(geometry, {TRIANGLE})",
        lambda c: c.geometry.intersects(shapely.from_wkt(TRIANGLE)),
    ),
    (
        "S_WITHIN(geometry, BBOX(108.3, 22.8, 108.4, 22.9))",
        lambda c: c.geometry.within(shapely.box(108.3, 22.8, 108.4, 22.9)),
    ),
    (
        "link_method IN ('fuzzy', 'name') AND adcode = '450102'",
        lambda c: c.link_method.isin(["fuzzy", "name"]) & (c.adcode == "450102"),
    ),
]


@pytest.mark.parametrize(("text", "keep"), FILTERS, ids=[f[0][:40] for f in FILTERS])
def test_a_filter_keeps_what_pandas_keeps(
    world: dict[str, Any], text: str, keep: Callable[[pd.DataFrame], pd.Series]
) -> None:
    expected = _expected(world, keep)
    assert expected, f"the sample has no case for {text!r}: the test would prove nothing"
    assert len(expected) < len(world["cases"])
    assert _ids(_all(world, "city", filter=text)) == expected


def test_cql2_json_is_the_same_filter_as_text(world: dict[str, Any]) -> None:
    expression = {
        "op": "and",
        "args": [
            {"op": ">", "args": [{"property": "penalty_amount"}, 50000]},
            {"op": "like", "args": [{"property": "violation_type"}, "%排放%"]},
        ],
    }
    as_json = _all(world, "city", filter=json.dumps(expression), **{"filter-lang": "cql2-json"})
    as_text = _all(world, "city", filter="penalty_amount > 50000 AND violation_type LIKE '%排放%'")
    assert _ids(as_json) == _ids(as_text) and as_json


def test_a_filter_never_widens_the_scope(world: dict[str, Any]) -> None:
    """A county account asking for the whole city's cases by filter gets its county's."""
    outside = "adcode <> '450102' OR adcode = '450102'"
    features = _all(world, "county", filter=outside)
    cases: pd.DataFrame = world["cases"]
    assert _ids(features) == set(cases.loc[cases.adcode == COUNTY, "case_id"])
    assert {f["properties"]["adcode"] for f in features} == {COUNTY}


def test_sortby_orders_and_properties_select(world: dict[str, Any]) -> None:
    features = _all(
        world,
        "city",
        filter="penalty_amount > 0",
        sortby="-penalty_amount,case_id",
        properties="case_id,penalty_amount",
    )
    amounts = [f["properties"]["penalty_amount"] for f in features]
    assert amounts == sorted(amounts, reverse=True) and len(set(amounts)) > 10
    assert {tuple(f["properties"]) for f in features} == {("case_id", "penalty_amount")}


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"filter": "penalty_amount >"}, "does not parse"),
        ({"filter": "no_such_field = 1"}, "no_such_field"),
        ({"filter": "penalty_amount = 1", "filter-lang": "ecql"}, "filter-lang"),
        ({"filter": "S_INTERSECTS(geometry, POINT(1))"}, "'POINT' is not supported"),
        ({"filter": "T_AFTER(enterprise_name, DATE('2024-01-01'))"}, "date property"),
        ({"filter": "decision_date > DATE('2024-13-45')"}, "'2024-13-45' is not a date"),
        ({"sortby": "geometry"}, "sortable"),
        ({"properties": "case_id,nope"}, "nope"),
    ],
)
def test_a_bad_filter_is_a_400_naming_the_problem(
    world: dict[str, Any], params: dict[str, str], says: str
) -> None:
    answer = world["client"].get("/collections/cases/items", params=params, headers=world["city"])
    assert answer.status_code == 400, answer.text
    assert says in answer.json()["description"]


def test_queryables_are_typed_and_titled_in_chinese(world: dict[str, Any]) -> None:
    doc = world["client"].get("/collections/cases/queryables", headers=world["city"]).json()
    properties = doc["properties"]
    assert properties["penalty_amount"]["type"] == "number"
    assert properties["decision_date"] == {"title": "处罚决定日期 decided", "type": "string", "format": "date"}  # fmt: skip
    assert properties["geometry"]["x-ogc-role"] == "primary-geometry"
    assert "罚款" in properties["penalty_amount"]["title"]


def test_conformance_declares_filtering(world: dict[str, Any]) -> None:
    classes = world["client"].get("/conformance").json()["conformsTo"]
    for tail in ("conf/filter", "conf/features-filter", "conf/cql2-text", "conf/basic-cql2"):
        assert any(c.endswith(tail) for c in classes), tail


def test_an_analytic_layer_is_filtered_like_records(world: dict[str, Any]) -> None:
    client: TestClient = world["client"]
    url = "/collections/hexagons/items"
    whole = client.get(url, params={"limit": "10000"}, headers=world["city"]).json()
    counts = [f["properties"]["cases"] for f in whole["features"]]
    answer = client.get(
        url, params={"limit": "10000", "filter": "cases >= 3"}, headers=world["city"]
    )
    assert answer.status_code == 200, answer.text
    kept = answer.json()["features"]
    assert len(kept) == sum(c >= 3 for c in counts) > 0
    assert all(f["properties"]["cases"] >= 3 for f in kept)


def test_the_parser_names_the_unknown_property() -> None:
    queryables = record_queryables("cases")
    with pytest.raises(BadFilterError, match="'budget' is not a queryable"):
        parse_filter("budget > 1", None, queryables)
    parsed = parse_filter("penalty_amount > 1 AND CASEI(status) = casei('X')", None, queryables)
    assert parsed.properties == {"penalty_amount", "status"}


@pytest.mark.parametrize(
    ("pattern", "regex", "glob"),
    [
        ("%化工%", "^.*化工.*$", "*化工*"),
        ("a_b", "^a.b$", "a?b"),
        ("100\\%", "^100%$", "100%"),
        ("x\\_y*", "^x_y\\*$", "x_y[*]"),
    ],
)
def test_like_patterns_translate_with_their_escapes(pattern: str, regex: str, glob: str) -> None:
    from geo_service.core.cql2 import like_regex
    from geo_service.store.cql2_sql import _glob

    assert like_regex(pattern) == regex and _glob(pattern) == glob
