"""The bulk write path stores what the row-wise path stored: same rows, ids, batches,
updates and rejects, column by column (SQLite; PostGIS COPY: test_postgis_serving)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import geopandas as gpd
import pytest
from sqlalchemy import Engine, text

import geo_service.ingest.writer as writer
from geo_service.core.paths import SAMPLE_SLICE
from geo_service.ingest import IngestOptions, ingest_file
from geo_service.store import make_engine, migrate
from geo_service.store.boundaries import load_divisions
from geo_service.store.models import INGEST_TABLES, IngestBatch, LinkReview, RejectedRow
from tests.geo_service.bulk_cases import write_cases_csv

#: Columns that differ between two runs by design (when a batch ran, from which folder).
PER_RUN = {"started_at", "finished_at", "source_name"}
SAMPLE_KINDS = ("enterprises", "cases", "inspections", "exceedances", "complaints", "projects")


def _contents(engine: Engine) -> dict[str, tuple[int, str]]:
    """Per table: its row count and a digest of every column of every row, in id order."""
    tables = [m.__table__ for m in INGEST_TABLES.values()]  # type: ignore[attr-defined]
    tables += [IngestBatch.__table__, RejectedRow.__table__, LinkReview.__table__]
    found = {}
    with engine.connect() as conn:
        for table in tables:
            columns = ", ".join(f'"{c.name}"' for c in table.columns if c.name not in PER_RUN)
            rows = conn.execute(text(f"SELECT {columns} FROM {table.name} ORDER BY id")).all()
            digest = hashlib.sha256(repr([tuple(r) for r in rows]).encode()).hexdigest()
            found[table.name] = (len(rows), digest)
    return found


def _run(
    folder: Path,
    divisions: gpd.GeoDataFrame,
    bulk: bool,
    monkeypatch: pytest.MonkeyPatch,
    ingests: Callable[[Engine, Path], list[dict[str, Any]]],
) -> tuple[dict[str, tuple[int, str]], list[dict[str, Any]]]:
    folder.mkdir()
    engine = make_engine(f"sqlite:///{folder / 'geo.db'}")
    migrate(engine)
    load_divisions(engine, divisions)
    monkeypatch.setattr(writer, "BULK_ON_SQLITE", bulk)
    try:
        summaries = ingests(engine, folder)
        return _contents(engine), summaries
    finally:
        engine.dispose()


def _counts(summary: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in summary.items() if k not in {"seconds", "rejects_path"}}


def _sample_twice(engine: Engine, folder: Path) -> list[dict[str, Any]]:
    """The whole sample, then its cases again (every case updated in place)."""
    summaries = []
    for kind in (*SAMPLE_KINDS, "cases"):
        options = IngestOptions(
            kind=kind, progress=False, rejects_path=folder / f"{kind}.rejects.csv", chunk_rows=700
        )
        summaries.append(_counts(ingest_file(engine, SAMPLE_SLICE / f"{kind}.csv", options)))
    return summaries


def test_the_sample_is_stored_alike_by_both_paths(
    tmp_path: Path, divisions_gdf: gpd.GeoDataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    bulk = _run(tmp_path / "bulk", divisions_gdf, True, monkeypatch, _sample_twice)
    rows = _run(tmp_path / "rows", divisions_gdf, False, monkeypatch, _sample_twice)
    assert bulk == rows
    contents, summaries = bulk
    assert contents["cases"][0] == summaries[1]["accepted"] > 3_000
    assert summaries[-1]["updated"] == summaries[-1]["accepted"] == summaries[1]["accepted"]
    assert contents["rejected_rows"][0] == sum(s["rejected"] for s in summaries) > 0


def _generated(engine: Engine, folder: Path) -> list[dict[str, Any]]:
    """300,000 generated cases (some rejected), then 30,000 of them again, changed."""
    first, second = folder / "first.csv", folder / "second.csv"
    write_cases_csv(first, 300_000, seed=1, prefix="G", bad_every=97)
    write_cases_csv(second, 30_000, seed=2, prefix="G")
    summaries = []
    for path in (first, second):
        options = IngestOptions(
            kind="cases", progress=False, rejects_path=path.with_suffix(".rejects.csv")
        )
        summaries.append(_counts(ingest_file(engine, path, options)))
    return summaries


def test_a_large_file_is_stored_alike_by_both_paths(
    tmp_path: Path, divisions_gdf: gpd.GeoDataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    bulk = _run(tmp_path / "bulk", divisions_gdf, True, monkeypatch, _generated)
    rows = _run(tmp_path / "rows", divisions_gdf, False, monkeypatch, _generated)
    assert bulk == rows
    contents, (first, second) = bulk
    assert first["rows"] == 300_000
    assert 0 < first["rejected"] < 300_000 // 90
    assert contents["cases"][0] == first["accepted"] + second["inserted"]
    # the second file's ids whose first rows were rejected are new; the rest updated
    assert second["accepted"] == 30_000
    assert second["inserted"] == len(range(0, 30_000, 97)) and second["updated"] > 29_000
