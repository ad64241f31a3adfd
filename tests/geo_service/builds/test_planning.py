"""The records risk is scored from: a jurisdiction's, up to a day, in analytics' columns."""

from __future__ import annotations

import datetime as dt

import numpy as np

from geo_service.builds.risk_inputs import (
    cell_scores,
    enterprise_scores,
    last_inspections,
    read_risk_records,
)
from geo_service.core.filters import Filters
from geo_service.store.queries import read_frame
from tests.conftest import SampleStore

CITY = "450100"


def test_records_of_the_jurisdiction_up_to_the_day(sample_store: SampleStore) -> None:
    engine = sample_store.engine
    as_of = dt.date(2023, 6, 30)
    records = read_risk_records(engine, CITY, as_of)
    every_case = read_frame(engine, "cases", Filters(jurisdiction=CITY), ["decision_date"])
    expected = (every_case["decision_date"].astype(str) <= "2023-06-30").sum()
    assert len(records.cases) == expected < len(every_case)
    assert records.cases["decision_date"].max() <= np.datetime64(as_of)
    assert records.inspections["inspection_date"].max() <= np.datetime64(as_of)
    register = read_frame(engine, "enterprises", Filters(jurisdiction=CITY), ["lon"])
    assert len(records.enterprises) == register["lon"].notna().sum() > 0
    # the sample slice in this store has no exceedances or complaints: those drop out
    assert records.exceedances is None and records.complaints is None


def test_scores_name_each_enterprise_and_cells_cover_them(sample_store: SampleStore) -> None:
    engine = sample_store.engine
    records = read_risk_records(engine, CITY, dt.date(2024, 12, 31))
    scores = enterprise_scores(engine, records, jurisdiction=CITY)
    assert list(scores["credit_code"]) == list(records.enterprises["credit_code"])
    assert list(scores["name"]) == list(records.enterprises["name"])
    used = scores.attrs["parameters"]["components"]
    assert "exceedances" not in used and "repeat_offending" in used
    assert np.allclose(scores.filter(like="c_").sum(axis=1), scores["score"])
    cells = cell_scores(engine, records, jurisdiction=CITY)
    assert set(scores["h3"]) <= set(cells["h3"])
    assert cells["enterprises"].sum() == len(scores)
    last = last_inspections(records)
    inspected = set(records.inspections["credit_code"].dropna())
    assert last.notna().sum() == len(inspected & set(records.enterprises["credit_code"]))
