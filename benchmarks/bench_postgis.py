"""PostGIS in production: COPY ingest against ``executemany``, and point tiles by
``ST_AsMVT`` against our encoder over the layer loaded in memory.

Needs a PostgreSQL server with PostGIS (``GEO_BENCH_POSTGRES_URL``, default the
test server ``postgresql+psycopg://postgres@127.0.0.1:5432/test``); the figures go
into a database of their own (``geo_bench_postgis``), dropped at the end. Without
a server the suite reports that and measures nothing.

1. 500,000 generated WGS84 case rows ingested into an empty store, through the whole
   pipeline: with the earlier ``executemany`` upsert through the table's indexes
   (baseline); with COPY into a staging table and one upsert per chunk, through the
   indexes (the path before first loads dropped them); with COPY as the service writes
   a first load, the secondary indexes dropped and rebuilt after; then once more into
   the full table (every row updated in place, through the indexes).
2. The store doubled to 1,000,000 cases in SQL; tiles of the cases layer around
   Nanning at zooms 10–16 as the service makes them, with the default
   ``GEO_TILE_MAX_POINTS`` cap: a tile with more cases inside it than the cap is
   aggregated (counted per cell by one ``GROUP BY`` in PostGIS), the others are one
   ``ST_AsMVT`` query; against loading the layer into a :class:`layers.tiles.TileSource`
   once (timed apart) and cutting the same tile from it. One more row: the z10 tile
   without the cap (every point, by ``ST_AsMVT``), for comparison.
"""

from __future__ import annotations

import os
import statistics
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

import geo_service.ingest.writer as writer
from benchmarks.report import Row, stopwatch
from benchmarks.serving import tile_of
from geo_service.api.postgis_tiles import AGGREGATE_SUMS, record_tile_mvt
from geo_service.api.tile_cache import DEFAULT_MAX_POINTS, HEAVY_COLUMNS, TileService
from geo_service.core.filters import Filters
from geo_service.ingest import IngestOptions, ingest_file
from geo_service.store import make_engine, migrate
from geo_service.store.boundaries import load_divisions, read_divisions_file
from layers.tiles import TileSource, vector_tile

URL = os.environ.get("GEO_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
DATABASE = "geo_bench_postgis"
NANNING = (108.37, 22.82)
TARGET_ROWS_S = 40_000


def _cases_csv(path: Path, n_rows: int, seed: int = 7) -> None:
    """``n_rows`` cases with WGS84 coordinates within 0.25° of Nanning (all accepted)."""
    rng = np.random.default_rng(seed)
    days = rng.integers(0, 4 * 365, n_rows)
    pd.DataFrame(
        {
            "case_id": [f"B-{i}" for i in range(n_rows)],
            "decision_date": (np.datetime64("2021-01-01") + days.astype("timedelta64[D]")).astype(
                str
            ),
            "lon": np.round(NANNING[0] + rng.uniform(-0.25, 0.25, n_rows), 6),
            "lat": np.round(NANNING[1] + rng.uniform(-0.25, 0.25, n_rows), 6),
            "crs": "WGS84",
            "industry_code": rng.choice(["C2611", "C3011", "E4710", "C1931"], n_rows),
            "violation_type": rng.choice(
                ["超标排放", "未批先建", "扬尘污染防治措施不到位"], n_rows
            ),
            "penalty_amount": rng.integers(1, 100, n_rows) * 1000,
            "description": "现场检查发现超标排放，违反了《中华人民共和国大气污染防治法》的规定。",
        }
    ).to_csv(path, index=False, encoding="utf-8")


def _database() -> tuple[Engine, str] | None:
    """A fresh database on the server (admin engine, its URL), or None without a server."""
    admin = create_engine(URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{DATABASE}"'))
    except Exception:  # no server: nothing to measure
        admin.dispose()
        return None
    return admin, make_url(URL).set(database=DATABASE).render_as_string(hide_password=False)


def _restart(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE rejected_rows, cases, ingest_batches RESTART IDENTITY CASCADE"))


def _ingest(
    engine: Engine, path: Path, copy: bool, indexed: bool = False
) -> tuple[float, float, int]:
    """Seconds of the whole ingest and of its store stage, and the rows read; with
    ``indexed`` every batch goes through the table's indexes (none counts as bulk)."""
    writer.COPY_ON_POSTGRES = copy
    bulk_rows = writer.BULK_ROWS
    if indexed:
        writer.BULK_ROWS = 2**62
    try:
        with stopwatch() as elapsed:
            summary = ingest_file(engine, path, IngestOptions(kind="cases", progress=False))
    finally:
        writer.COPY_ON_POSTGRES, writer.BULK_ROWS = True, bulk_rows
    return elapsed(), float(summary["seconds"]["store"]), int(summary["rows"])


def _ingest_rows(engine: Engine, path: Path) -> list[Row]:
    base_s, base_store_s, rows = _ingest(engine, path, copy=False, indexed=True)
    _restart(engine)
    indexed_s, indexed_store_s, _ = _ingest(engine, path, copy=True, indexed=True)
    _restart(engine)
    copy_s, copy_store_s, _ = _ingest(engine, path, copy=True)
    again_s, again_store_s, _ = _ingest(engine, path, copy=True)  # every row updated in place
    rate = rows / copy_s
    return [
        Row(
            work=f"ingest {rows:,} case rows (CSV, WGS84) into an empty PostGIS store:"
            " whole ingest",
            figure=f"{copy_s:.1f} s ({rate:,.0f} rows/s)",
            target=f"≥ {TARGET_ROWS_S:,} rows/s (issue 20)",
            met=rate >= TARGET_ROWS_S,
            baseline="the same ingest writing with executemany through the indexes (the"
            " earliest path)",
            baseline_figure=f"{base_s:.1f} s ({rows / base_s:,.0f} rows/s)",
            note=f"COPY through the indexes (the path before a first load dropped them):"
            f" {indexed_s:.1f} s ({rows / indexed_s:,.0f} rows/s); re-ingest of the same file"
            f" into the full table (every row updated in place, COPY through the indexes):"
            f" {again_s:.1f} s",
        ),
        Row(
            work=f"… its store stage (what is left to write once the file is read): {rows:,}"
            " rows upserted in one transaction",
            figure=f"{copy_store_s:.1f} s",
            target="—",
            met=None,
            baseline="executemany of INSERT … ON CONFLICT DO UPDATE through the indexes",
            baseline_figure=f"{base_store_s:.1f} s",
            note=f"COPY straight into the empty table, 100,000 rows at a time, the secondary"
            f" indexes dropped and rebuilt after; through the indexes: {indexed_store_s:.1f} s;"
            f" updating all rows (COPY into a staging table + one upsert per chunk):"
            f" {again_store_s:.1f} s",
        ),
    ]


def _double(engine: Engine) -> int:
    """Copy every case once more, 1 km away and with a new id; the number of cases."""
    columns = (
        "decision_date, enterprise_name, credit_code, industry_code, address, "
        "violation_type, law_article, description, penalty_amount, status, source_lon, "
        "source_lat, source_crs, geocode_method, geocode_precision, coord_flags, h3_15, "
        "adcode, city_adcode, province_adcode, attributes, batch_id"
    )
    with engine.begin() as conn:
        conn.execute(
            text(
                f"INSERT INTO cases (case_id, lon, lat, {columns}) SELECT case_id || '-2',"
                f" lon + 0.01, lat - 0.01, {columns} FROM cases"
            )
        )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE cases"))
        return int(conn.execute(text("SELECT count(*) FROM cases")).scalar_one())


def _median_ms(fn, repeats: int = 5) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeats):
        with stopwatch() as elapsed:
            fn()
        times.append(elapsed() * 1000)
    return statistics.median(times)


def _tile_row(
    engine: Engine, source: TileSource, load_s: float, n_cases: int, z: int, cap: int | None
) -> Row:
    """One cases tile around Nanning from both paths, with the cap (None: every point)."""
    index = tile_of(*NANNING, z)
    sums = AGGREGATE_SUMS["cases"]

    def theirs() -> bytes:
        return record_tile_mvt(
            engine, "cases", Filters(), *index, exclude=HEAVY_COLUMNS, max_points=cap
        )

    def ours() -> bytes:
        return vector_tile(source, "cases", *index, max_points=cap, sums=sums)

    sql_bytes, our_bytes = len(theirs()), len(ours())
    sql_ms, ours_ms = _median_ms(theirs), _median_ms(ours)
    inside = len(source.in_tile(*index))
    if cap is None:
        made = f"every point, no cap: {len(source.select(*index)[1][0]):,} with the buffer"
        how = "ST_AsMVT"
    elif inside > cap:
        made = f"aggregated, cap {cap:,}: {len(source.point_bins(*index, sums)):,} cells"
        how = "GROUP BY + encoder"
    else:
        made = f"under the cap of {cap:,}: every point"
        how = "ST_AsMVT"
    return Row(
        work=f"cases tile z{z} ({inside:,} points inside; {made}) from a {n_cases:,}-case "
        "PostGIS store",
        figure=f"{sql_ms:.0f} ms ({how}, {sql_bytes:,} B)",
        target="—",
        met=None,
        baseline="our encoder on the layer loaded in memory (load timed apart), same cap",
        baseline_figure=f"{ours_ms:.0f} ms ({our_bytes:,} B)",
        note=f"first tile with our encoder: {load_s:.1f} s to load the layer + "
        f"{ours_ms:.0f} ms; the store needs no load",
    )


def _tile_rows(engine: Engine, n_cases: int, cap: int = DEFAULT_MAX_POINTS) -> list[Row]:
    service = TileService(engine, cache_mb=0)
    with stopwatch() as load_time:
        source = service._load_vector("cases", Filters(), {}).source
    load_s = load_time()
    rows = [_tile_row(engine, source, load_s, n_cases, z, cap) for z in (10, 12, 14, 16)]
    rows.append(_tile_row(engine, source, load_s, n_cases, 10, None))  # the cap raised
    return rows


def run(quick: bool = False) -> list[Row]:
    made = _database()
    if made is None:
        return [
            Row(
                work="PostGIS suite",
                figure="not run",
                target="—",
                met=None,
                baseline="—",
                baseline_figure="—",
                note=f"no PostgreSQL at {URL}",
            )
        ]
    admin, url = made
    engine = make_engine(url)
    try:
        migrate(engine)
        load_divisions(engine, read_divisions_file())
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "cases.csv"
            _cases_csv(path, 20_000 if quick else 500_000)
            rows = _ingest_rows(engine, path)
        rows += _tile_rows(engine, _double(engine))
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'))
        admin.dispose()
    return rows
