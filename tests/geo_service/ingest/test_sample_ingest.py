"""The committed sample slice through the real ingest: every planted defect caught, nothing else.

The generator writes, beside the files, the reason each bad row must be rejected
for (expected_rejects.csv) and where each good record truly is (truth_points.csv).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pyproj import Geod
from sqlalchemy import Engine, text

from geo_service.core.paths import SAMPLE_SLICE
from tests.conftest import SampleStore

KEYS = {"enterprises": "credit_code", "cases": "case_id", "inspections": "inspection_id"}
METHOD = {
    "coordinates": "coordinates",
    "credit_code": "register",
    "name": "register",
    "name_variant": "register",
    "address_county": "address",
    "address_city": "address",
}


@pytest.fixture
def ingested(sample_store: SampleStore) -> dict[str, object]:
    return {
        "engine": sample_store.engine,
        "summaries": sample_store.summaries,
        "rejects": sample_store.rejects,
    }


@pytest.mark.parametrize("kind", list(KEYS))
def test_exactly_the_planted_defects_are_rejected(ingested: dict, kind: str) -> None:  # type: ignore[type-arg]
    summary = ingested["summaries"][kind]
    assert summary["accepted"] + summary["rejected"] == summary["rows"]
    expected = pd.read_csv(SAMPLE_SLICE / "expected_rejects.csv", dtype={"row_number": int})
    expected = expected[expected["file"] == f"{kind}.csv"].set_index("row_number")["reason"]
    got = pd.read_csv(ingested["rejects"] / f"{kind}.csv", encoding="utf-8-sig", dtype=str)
    got = got.set_index(got["row_number"].astype(int))["reason"]
    assert got.sort_index().to_dict() == expected.sort_index().to_dict()
    if kind != "enterprises":
        assert set(expected) >= {
            "missing_required",
            "bad_date",
            "bad_coordinates",
            "duplicate_id",
            "unlocatable",
            "malformed_row",
        }


@pytest.mark.parametrize("kind", list(KEYS))
def test_records_land_where_the_truth_says(ingested: dict, kind: str) -> None:  # type: ignore[type-arg]
    engine: Engine = ingested["engine"]  # type: ignore[assignment]
    truth = pd.read_csv(SAMPLE_SLICE / "truth_points.csv", dtype=str)
    truth = truth[truth["kind"] == kind]
    with engine.connect() as conn:
        stored = pd.read_sql(
            text(
                f"SELECT {KEYS[kind]} AS record_id, lon AS s_lon, lat AS s_lat, adcode AS s_adcode,"
                f" city_adcode, geocode_method, geocode_precision, coord_flags FROM {kind}"
            ),
            conn,
        )
    merged = truth.merge(stored, on="record_id", how="outer", indicator=True)
    assert (merged["_merge"] == "both").all()  # every good record stored, nothing else
    assert (merged["geocode_method"] == merged["locate_by"].map(METHOD)).all()
    assert (merged["geocode_precision"] == merged["expected_precision"]).all()
    county = merged["expected_precision"] != "city"
    assert (merged.loc[county, "s_adcode"] == merged.loc[county, "expected_adcode"]).all()
    assert (merged.loc[~county, "city_adcode"] == merged.loc[~county, "expected_adcode"]).all()
    swapped = merged["flags"].fillna("").str.contains("swap")
    assert swapped.any() and ((merged["coord_flags"] == "swapped") == swapped).all()
    by_coords = merged[merged["geocode_method"] == "coordinates"]
    assert set(by_coords["source_crs"]) >= {"WGS84", "GCJ02", "BD09"}
    _, _, dist = Geod(ellps="WGS84").inv(
        by_coords["lon"].astype(float).to_numpy(),
        by_coords["lat"].astype(float).to_numpy(),
        by_coords["s_lon"].to_numpy(),
        by_coords["s_lat"].to_numpy(),
    )
    assert np.max(dist) < 1.0  # the generator rounds to 6 decimals (≤ 0.08 m)
