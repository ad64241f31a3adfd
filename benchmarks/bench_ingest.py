"""Ingest throughput: 1M generated case rows (CSV; GCJ-02, BD-09, CGCS2000 beside WGS84).

Baseline: the same CSV loaded by pandas ``read_csv`` + ``DataFrame.to_sql`` into
SQLite, with none of the validation, coordinate conversion, geocoding and
jurisdiction assignment the ingest does: the bare cost of moving the rows.
"""

from __future__ import annotations

import csv
import sqlite3
import tempfile
from pathlib import Path

import pandas as pd

from benchmarks.report import Row, stopwatch
from geo_service.boundaries import load_divisions, read_divisions_file
from geo_service.ingest import IngestOptions, ingest_file
from geo_service.sample import write_sample
from geo_service.store import make_engine, migrate

TARGET_S = 60.0


def _crs_share(path: Path) -> dict[str, float]:
    with path.open(encoding="gb18030", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        col = header.index("坐标系")
        labels = pd.Series([row[col] if len(row) > col else "" for row in reader])
    from analytics.coords import normalize_crs_name

    named = labels[labels != ""].map(lambda s: _safe_crs(s, normalize_crs_name))
    return (named.value_counts() / len(labels)).round(3).to_dict()


def _safe_crs(label: str, norm) -> str:  # type: ignore[no-untyped-def]
    try:
        return str(norm(label))
    except ValueError:
        return "invalid"


def run(quick: bool = False) -> list[Row]:
    n_cases = 50_000 if quick else 1_000_000
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        with stopwatch() as gen_time:
            write_sample(
                root / "data", seed=7, n_enterprises=23_000, n_cases=n_cases, n_inspections=1_000
            )
        engine = make_engine(f"sqlite:///{root / 'geo.db'}")
        migrate(engine)
        load_divisions(engine, read_divisions_file())
        ingest_file(
            engine,
            root / "data" / "enterprises.csv",
            IngestOptions(kind="enterprises", progress=False),
        )
        cases = root / "data" / "cases.csv"
        with stopwatch() as ingest_time:
            summary = ingest_file(engine, cases, IngestOptions(kind="cases", progress=False))
        seconds = ingest_time()
        with stopwatch() as base_time:
            frame = pd.read_csv(
                cases, encoding="gb18030", dtype=str, on_bad_lines="skip", engine="c"
            )
            with sqlite3.connect(root / "baseline.db") as conn:
                frame.to_sql("cases", conn, index=False, chunksize=100_000)
        crs = _crs_share(cases)
    rate = summary["rows"] / seconds
    note = (
        f"{summary['accepted']:,} accepted, {summary['rejected']:,} rejected; "
        f"CRS shares {crs}; methods {summary['by_method']}; "
        f"generating the file took {gen_time():.1f} s"
    )
    return [
        Row(
            work=f"ingest {summary['rows']:,} case rows (CSV, GB18030) into SQLite",
            figure=f"{seconds:.1f} s ({rate:,.0f} rows/s)",
            target=f"≤ {TARGET_S:.0f} s for 1M rows",
            met=None if quick else seconds <= TARGET_S,
            baseline="pandas read_csv + to_sql (no validation or geocoding)",
            baseline_figure=f"{base_time():.1f} s",
            note=note,
        )
    ]
