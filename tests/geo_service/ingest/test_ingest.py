"""Ingest end to end on both backends: every row accounted for, every record placed right."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pyproj import Geod
from sqlalchemy import Engine, func, select

from geo_service.ingest import IngestOptions, ingest_file
from geo_service.store.models import IngestBatch, PenaltyCase, RejectedRow
from tests.geo_service.messy import Expected, write_enterprises, write_messy_cases

GEOD = Geod(ellps="WGS84")
TODAY = dt.date(2026, 11, 28)


def _ingest(engine: Engine, path: Path, kind: str, **kw: object) -> dict:  # type: ignore[type-arg]
    options = IngestOptions(kind=kind, progress=False, today=TODAY, **kw)  # type: ignore[arg-type]
    return ingest_file(engine, path, options)


@pytest.fixture
def messy(store: Engine, tmp_path: Path, divisions_gdf) -> tuple[Engine, Path, Expected]:  # type: ignore[no-untyped-def]
    _ingest(store, _register(tmp_path, divisions_gdf), "enterprises")
    path = tmp_path / "cases.csv"
    return store, path, write_messy_cases(path, divisions_gdf)


def _register(tmp_path: Path, divisions_gdf) -> Path:  # type: ignore[no-untyped-def]
    path = tmp_path / "enterprises.csv"
    write_enterprises(path, divisions_gdf)
    return path


def _stored_cases(engine: Engine) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.read_sql(select(PenaltyCase.__table__), conn)


def test_every_row_is_accepted_or_rejected_with_its_reason(messy, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    engine, path, exp = messy
    rejects = tmp_path / "rejects.csv"
    summary = _ingest(engine, path, "cases", rejects_path=rejects)
    assert summary["rows"] == exp.rows
    assert summary["accepted"] + summary["rejected"] == summary["rows"]
    assert summary["rejected"] == len(exp.reasons)
    with rejects.open(encoding="utf-8-sig", newline="") as fh:
        got = {int(r["row_number"]): r for r in csv.DictReader(fh)}
    assert {n: r["reason"] for n, r in got.items()} == exp.reasons
    # original values are kept under the original (Chinese) headers
    bad_date_row = next(n for n, r in exp.reasons.items() if r == "bad_date")
    assert got[bad_date_row]["处罚决定日期"] == "2024-13-45"
    dup_row = next(n for n, r in exp.reasons.items() if r == "duplicate_id")
    assert got[dup_row]["detail"] == "also in row 5"
    stored = _stored_cases(engine)
    assert len(stored) == summary["accepted"] == len(exp.county)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(RejectedRow)).scalar() == len(
            exp.reasons
        )


def test_records_are_placed_in_the_right_county_within_a_metre(messy) -> None:  # type: ignore[no-untyped-def]
    engine, path, exp = messy
    _ingest(engine, path, "cases")
    stored = _stored_cases(engine)
    numbers = {f"桂环罚〔2024〕{i}号": i for i in range(300)}
    by_row = {}
    for row in stored.itertuples():
        by_row[_row_of(row.case_id, numbers, exp)] = row
    for n, county in exp.county.items():
        row = by_row[n]
        assert (None if pd.isna(row.adcode) else row.adcode) == county, n
        assert row.city_adcode == exp.city[n]
        assert row.province_adcode == "450000"
        assert row.geocode_method == exp.method[n]
        assert row.geocode_precision == exp.precision[n]
    for n, (lon, lat) in exp.true_lonlat.items():
        _, _, dist = GEOD.inv(lon, lat, by_row[n].lon, by_row[n].lat)
        assert dist < 1.0, (n, dist)
    assert {n for n, r in by_row.items() if r.coord_flags == "swapped"} == exp.swapped
    crs = stored.set_index("case_id")["source_crs"].dropna()
    assert set(crs) == {"WGS84", "GCJ02", "BD09", "CGCS2000"}


def _row_of(case_id: str, numbers: dict[str, int], exp: Expected) -> int:
    i = numbers[case_id]
    # good rows were written first, in order: case i is data row i + 2 for i < 16
    return i + 2 if i < 16 else {100: 18, 101: 19, 102: 20, 103: 21, 104: 22}[i]


def test_reingesting_the_same_file_changes_no_counts(messy) -> None:  # type: ignore[no-untyped-def]
    engine, path, _ = messy
    first = _ingest(engine, path, "cases")
    before = _stored_cases(engine)
    second = _ingest(engine, path, "cases")
    after = _stored_cases(engine)
    assert first["inserted"] == first["accepted"] and first["updated"] == 0
    assert second["inserted"] == 0 and second["updated"] == second["accepted"]
    assert len(after) == len(before)
    cols = ["case_id", "lon", "lat", "adcode", "geocode_method", "penalty_amount"]
    pd.testing.assert_frame_equal(
        before[cols].sort_values("case_id").reset_index(drop=True),
        after[cols].sort_values("case_id").reset_index(drop=True),
    )
    with engine.connect() as conn:
        query = select(IngestBatch.file_sha256).order_by(IngestBatch.id)
        batches = conn.execute(query).scalars().all()
    assert len(batches) == 3 and batches[1] == batches[2]  # register + two identical files


def test_amounts_dates_and_attributes_are_parsed(messy) -> None:  # type: ignore[no-untyped-def]
    engine, path, _ = messy
    _ingest(engine, path, "cases")
    stored = _stored_cases(engine).set_index("case_id")
    first = stored.loc["桂环罚〔2024〕0号"]
    assert first["penalty_amount"] == 50_000.0
    assert pd.Timestamp(first["decision_date"]).date() == dt.date(2024, 5, 4)
    assert set(pd.to_datetime(stored["decision_date"]).dt.date) == {dt.date(2024, 5, 4)}
    with engine.connect() as conn:
        attrs = dict(conn.execute(select(PenaltyCase.case_id, PenaltyCase.attributes)).all())
    assert attrs["桂环罚〔2024〕5号"] == {"备注": "复查"}
    assert attrs["桂环罚〔2024〕6号"] is None
    # the row names a register enterprise without its code: linked by name, the code
    # it states (none) kept as stated
    linked = stored.loc["桂环罚〔2024〕102号"]
    assert pd.isna(linked["credit_code"])
    assert linked["enterprise_credit_code"] == "91450100MA5K8XY394"
    assert (linked["link_method"], linked["link_score"]) == ("name", 1.0)


def test_a_failed_batch_leaves_the_store_as_before(store: Engine, tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("案件编号,案件编号\n1,2\n", encoding="utf-8")
    with pytest.raises(ValueError, match="repeated headers"):
        _ingest(store, path, "cases")
    with store.connect() as conn:
        assert conn.execute(select(func.count()).select_from(IngestBatch)).scalar() == 0


def test_stored_points_carry_their_h3_cell(messy) -> None:  # type: ignore[no-untyped-def]
    import h3

    engine, path, _ = messy
    _ingest(engine, path, "cases")
    stored = _stored_cases(engine)
    for row in stored.head(5).itertuples():
        assert h3.int_to_str(int(row.h3_15)) == h3.latlng_to_cell(row.lat, row.lon, 15)
    assert np.all(stored["h3_15"] > 0)
