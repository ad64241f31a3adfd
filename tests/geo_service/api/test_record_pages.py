"""Pages of point records read by the store (filtered, counted and paged in SQL) equal the same
slice of the whole collection."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal
from shapely.geometry import box
from sqlalchemy import Engine

from geo_service.core.errors import BadFilterError
from geo_service.core.filters import Filters
from geo_service.core.paths import SAMPLE_SLICE
from geo_service.ingest import IngestOptions, ingest_file
from geo_service.store.queries import (
    RECORD_KEYS,
    PageRequest,
    read_records,
    read_records_page,
    record_queryables,
)
from tests.conftest import SampleStore

NANNING_BOX = (108.0, 22.6, 108.6, 23.0)


@pytest.mark.parametrize("kind", ["cases", "inspections", "enterprises"])
@pytest.mark.parametrize(
    ("filters", "bbox"),
    [
        (Filters(), None),
        (Filters(jurisdiction="450100", period="2024"), None),
        (Filters(), NANNING_BOX),
        (Filters(industry="C"), NANNING_BOX),
    ],
)
def test_a_page_is_the_slice_of_the_whole(
    sample_store: SampleStore, kind: str, filters: Filters, bbox: tuple[float, ...] | None
) -> None:
    whole = read_records(sample_store.engine, kind, filters)
    if bbox is not None:  # a bbox page is in the order of the H3 cell, then the key
        whole = whole[whole.geometry.intersects(box(*bbox))]
        whole = whole.sort_values(["h3_15", RECORD_KEYS[kind]], kind="stable")
        assert whole["h3_15"].str.len().nunique() == 1  # as text, ordered as the integers
    assert len(whole) > 10  # the case is exercised
    for offset, limit in [(0, 7), (5, 100), (len(whole) - 3, 10), (len(whole) + 5, 10)]:
        page, matched = read_records_page(
            sample_store.engine, kind, filters, PageRequest(bbox=bbox, offset=offset, limit=limit)
        )
        assert matched == len(whole)
        expected = whole.iloc[offset : offset + limit].reset_index(drop=True)
        assert_frame_equal(_plain(page), _plain(expected))
        assert list(page.geometry.to_wkt()) == list(expected.geometry.to_wkt())


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """Values as served (missing values null whatever their column's inferred dtype)."""
    values = frame.drop(columns="geometry").astype(object)
    return values.where(values.notna(), None)


def test_a_point_on_the_box_edge_is_inside(sample_store: SampleStore) -> None:
    cases = read_records(sample_store.engine, "cases")
    lon, lat = float(cases.lon.iloc[0]), float(cases.lat.iloc[0])
    page, matched = read_records_page(
        sample_store.engine, "cases", None, PageRequest(bbox=(lon, lat, lon + 0.5, lat + 0.5))
    )
    assert cases.case_id.iloc[0] in set(page.case_id) and matched >= 1


def _typed_match(whole: pd.DataFrame, column: str, value: str) -> pd.DataFrame:
    """The rows whose ``column`` holds ``value`` read as that column's values are."""
    values = whole[column]
    if column == "decision_date":
        return whole[values.astype(str) == value]
    if values.dtype == bool or column == "problem_found":
        return whole[values.astype("boolean").fillna(False) == (value.lower() in ("true", "1"))]
    if pd.api.types.is_numeric_dtype(values):
        return whole[values == float(value)]
    return whole[values.astype(str) == value]


def test_property_filters_are_applied_by_the_store(store: Engine) -> None:
    """``?name=value`` pages equal the typed filter of the whole collection, on both stores:
    text, number (``5000`` and ``5000.0`` alike), date, H3 id and boolean columns."""
    for kind in ("enterprises", "cases", "inspections"):
        options = IngestOptions(kind=kind, progress=False, today=dt.date(2026, 11, 28))
        ingest_file(store, SAMPLE_SLICE / f"{kind}.csv", options)
    cases = read_records(store, "cases")
    amount = float(cases.penalty_amount.mode().iloc[0])
    probes = [
        ("cases", "geocode_method", "register", Filters()),
        ("cases", "penalty_amount", f"{amount:.1f}", Filters()),
        ("cases", "penalty_amount", f"{amount:.0f}", Filters(jurisdiction="450100")),
        ("cases", "decision_date", str(cases.decision_date.iloc[3]), Filters()),
        ("cases", "h3_15", str(cases.h3_15.iloc[5]), Filters()),
        ("cases", "violation_type", str(cases.violation_type.iloc[0]), Filters(period="2024")),
        ("inspections", "problem_found", "true", Filters()),
        ("inspections", "problem_found", "False", Filters(jurisdiction="450100")),
    ]
    for kind, column, value, filters in probes:
        whole = read_records(store, kind, filters)
        expected = _typed_match(whole, column, value).reset_index(drop=True)
        assert 0 < len(expected) < len(whole), (column, value)  # the filter does filter
        page, matched = read_records_page(
            store, kind, filters, PageRequest(limit=10_000, properties={column: value})
        )
        assert matched == len(expected), (column, value)
        assert list(page[RECORD_KEYS[kind]]) == list(expected[RECORD_KEYS[kind]])


@pytest.mark.parametrize(
    ("name", "value", "reason"),
    [
        ("colour", "red", "not a queryable"),
        ("attributes", "{}", "not a queryable"),
        ("penalty_amount", "lots", "not a value"),
        ("decision_date", "2024-13-01", "not a value"),
        ("h3_15", "zz", "not a value"),
        ("geocode_precision", "point", ""),
    ],
)
def test_a_bad_property_filter_is_refused(
    sample_store: SampleStore, name: str, value: str, reason: str
) -> None:
    if not reason:  # a good one for contrast: answered
        page, matched = read_records_page(
            sample_store.engine, "cases", None, PageRequest(properties={name: value})
        )
        assert matched > 0 and set(page[name]) == {value}
        return
    with pytest.raises(BadFilterError, match=reason):
        read_records_page(sample_store.engine, "cases", None, PageRequest(properties={name: value}))


def test_queryables_of_records_come_from_the_table() -> None:
    types = {n: q.type for n, q in record_queryables("inspections").items()}
    assert types["inspection_id"] == "string" and types["problem_found"] == "boolean"
    assert types["lon"] == "number" and types["h3_15"] == "string"
    assert types["geometry"] == "geometry"
    assert record_queryables("inspections")["inspection_date"].format == "date"
    assert "attributes" not in types and "id" not in types and "batch_id" not in types


def test_pages_after_a_key_equal_pages_at_an_offset(store: Engine) -> None:
    """``after`` (the last id of the previous page, as the next links give it) walks the
    same pages as ``offset``, on both stores, with filters."""
    for kind in ("enterprises", "cases"):
        options = IngestOptions(kind=kind, progress=False, today=dt.date(2026, 11, 28))
        ingest_file(store, SAMPLE_SLICE / f"{kind}.csv", options)
    filters = Filters(period="2024")
    whole = read_records(store, "cases", filters)
    assert len(whole) > 30
    walked, after = [], None
    while True:
        page, matched = read_records_page(
            store, "cases", filters, PageRequest(limit=13, after=after)
        )
        assert matched == len(whole)
        if page.empty:
            break
        offset = len(walked)
        by_offset, _ = read_records_page(
            store, "cases", filters, PageRequest(limit=13, offset=offset)
        )
        assert list(page.case_id) == list(by_offset.case_id)
        walked += list(page.case_id)
        after = str(page.case_id.iloc[-1])
    assert walked == list(whole.case_id)
