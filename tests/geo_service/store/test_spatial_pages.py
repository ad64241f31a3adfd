"""Bbox pages by H3 cell: the ranges they are read over hold every record in the box,
and SQLite pages them in the same order."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import geopandas as gpd
import h3
import numpy as np
import pytest
from alembic import command
from sqlalchemy import Engine, event, inspect

from geo_service.core.errors import BadFilterError
from geo_service.ingest import IngestOptions, ingest_file
from geo_service.store import make_engine, migrate
from geo_service.store.boundaries import load_divisions
from geo_service.store.db import alembic_config
from geo_service.store.queries import PageRequest, read_records_page
from geo_service.store.spatial_pages import COVER_MAX_DEG, cover_ranges
from tests.conftest import scratch_postgres
from tests.geo_service.bulk_cases import CENTRE, write_cases_csv


def _inside(ranges: list[tuple[int, int]], cell: int) -> bool:
    return any(low <= cell <= high for low, high in ranges)


@pytest.mark.parametrize("seed", range(4))
def test_every_point_of_a_box_is_in_its_ranges(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(25):
        size = 10 ** rng.uniform(-3.5, 0.8)  # a few metres to six degrees across
        west = rng.uniform(-170, 160)
        south = rng.uniform(-70, 60)
        bbox = (west, south, west + size * rng.uniform(0.3, 1), south + size * rng.uniform(0.3, 1))
        ranges = cover_ranges(bbox)
        assert ranges is not None
        assert all(a <= b < c for (a, b), (c, _) in itertools.pairwise(ranges))
        lon = rng.uniform(bbox[0], bbox[2], 300)
        lat = rng.uniform(bbox[1], bbox[3], 300)
        # the corners and edges too: the box takes them in
        lon = np.concatenate([lon, [bbox[0], bbox[2], bbox[0], bbox[2]], lon[:20]])
        lat = np.concatenate([lat, [bbox[1], bbox[1], bbox[3], bbox[3]], np.full(20, bbox[3])])
        missed = [
            (x, y)
            for x, y in zip(lon, lat, strict=True)
            if not _inside(ranges, h3.str_to_int(h3.latlng_to_cell(y, x, 15)))
        ]
        assert missed == [], (bbox, missed[:3])


def test_the_ranges_are_few_and_narrow() -> None:
    nanning = (108.2, 22.7, 108.6, 23.0)
    ranges = cover_ranges(nanning)
    assert ranges is not None and len(ranges) <= 32
    # they hold far fewer res-15 cells than Guangxi's: the scans read the box, not the region
    guangxi = cover_ranges((104.45, 20.9, 112.1, 26.4))
    assert guangxi is not None
    span = sum(b - a for a, b in ranges)
    assert span * 20 < sum(b - a for a, b in guangxi)


def test_a_box_too_large_is_not_covered() -> None:
    assert cover_ranges((0.0, 0.0, COVER_MAX_DEG + 1, 1.0)) is None
    assert cover_ranges((100.0, 0.0, 99.0, 1.0)) is None  # west of its west edge


def test_sqlite_pages_a_bbox_by_next_keys_in_cell_order(
    tmp_path: Path, divisions_gdf: gpd.GeoDataFrame
) -> None:
    csv = tmp_path / "cases.csv"
    write_cases_csv(csv, 1_500, seed=3, prefix="LITE")
    engine = make_engine(f"sqlite:///{tmp_path / 'geo.db'}")
    try:
        migrate(engine)
        load_divisions(engine, divisions_gdf)
        options = IngestOptions(kind="cases", progress=False, rejects_path=tmp_path / "r.csv")
        ingest_file(engine, csv, options)
        box = (CENTRE[0] - 0.1, CENTRE[1] - 0.1, CENTRE[0] + 0.1, CENTRE[1] + 0.05)
        every, matched = read_records_page(
            engine, "cases", None, PageRequest(bbox=box, limit=10_000)
        )
        assert matched == len(every) > 100
        stored = read_records_page(engine, "cases", None, PageRequest(limit=10_000))[0]
        inside = stored["lon"].between(box[0], box[2]) & stored["lat"].between(box[1], box[3])
        assert sorted(every["case_id"]) == sorted(stored.loc[inside, "case_id"])
        cells = [h3.str_to_int(c) for c in every["h3_15"]]
        assert list(zip(cells, every["case_id"], strict=True)) == sorted(
            zip(cells, every["case_id"], strict=True)
        )
        walked: list[str] = []
        after = None
        while True:
            page, _ = read_records_page(
                engine, "cases", None, PageRequest(bbox=box, limit=40, after=after)
            )
            if page.empty:
                break
            walked += page["case_id"].tolist()
            after = walked[-1]
        assert walked == every["case_id"].tolist()
        with pytest.raises(BadFilterError):
            read_records_page(engine, "cases", None, PageRequest(bbox=box, after="LITE-none"))
    finally:
        engine.dispose()


def test_sqlite_reads_a_bbox_page_over_its_h3_index_alone(
    tmp_path: Path, divisions_gdf: gpd.GeoDataFrame
) -> None:
    """The count and the page's keys are range scans of the (h3_15, key, lon, lat) index
    of revision 0014, not a scan of the table."""
    engine = make_engine(f"sqlite:///{tmp_path / 'geo.db'}")
    try:
        migrate(engine)
        load_divisions(engine, divisions_gdf)
        seen: list[tuple[str, Any]] = []
        event.listen(engine, "before_cursor_execute", lambda *a: seen.append((a[2], a[3])))
        box = (CENTRE[0] - 0.1, CENTRE[1] - 0.1, CENTRE[0] + 0.1, CENTRE[1] + 0.05)
        read_records_page(engine, "cases", None, PageRequest(bbox=box, limit=10))
        statements = list(seen)
        with engine.connect() as conn:
            plans = [
                " | ".join(str(r[-1]) for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {s}", p))
                for s, p in statements
                if "h3_15 BETWEEN" in s
            ]
    finally:
        engine.dispose()
    assert len(plans) == 2  # the count and the page's keys
    for plan in plans:
        assert "USING COVERING INDEX sqlix_cases_h3_15 (h3_15>? AND h3_15<?)" in plan, plan
        assert "SCAN cases" not in plan, plan


def _h3_indexes(engine: Engine) -> dict[str, list[str]]:
    names = inspect(engine)
    return {
        str(ix["name"]): [str(c) for c in ix["column_names"]]
        for table in ("cases", "inspections", "enterprises")
        for ix in names.get_indexes(table)
        if str(ix["name"]).startswith("sqlix_")
    }


def test_revision_0014_indexes_sqlite_and_comes_down(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'geo.db'}")
    try:
        migrate(engine)
        command.check(alembic_config(engine))  # not model drift: the environment skips them
        assert _h3_indexes(engine) == {
            "sqlix_cases_h3_15": ["h3_15", "case_id", "lon", "lat"],
            "sqlix_inspections_h3_15": ["h3_15", "inspection_id", "lon", "lat"],
            "sqlix_enterprises_h3_15": ["h3_15", "credit_code", "lon", "lat"],
        }
        command.downgrade(alembic_config(engine), "0013")
        assert _h3_indexes(engine) == {}
    finally:
        engine.dispose()


@pytest.mark.postgis
def test_revision_0014_leaves_postgis_alone(worker_id: str) -> None:
    with scratch_postgres(worker_id, "_0014") as engine:
        migrate(engine)
        assert _h3_indexes(engine) == {}  # PostgreSQL has its own (pgix_…_h3_15)
