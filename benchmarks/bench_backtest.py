"""Backtest of the risk-weighted 双随机 draw on the full-size generated sample.

The sample as ``geo-service sample`` writes it by default (23k enterprises, 20k
cases, 60k inspections, with exceedances, complaints and the roster), all six kinds
ingested; risk scored on the data up to 2024-12-31; 200 stratified draws of the
quarter's quotas (key 25 %, special 15 %, general 5 %), risk-weighted against
uniform with common random numbers. A hit is a penalty case decided in 2025 at a
drawn enterprise; the hit rate is the share of all 2025 cases at the register's
enterprises that the draw reaches. Baseline: the uniform draw of the same sizes.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.report import Row, stopwatch
from benchmarks.serving import KINDS, sample_store
from geo_service.core.settings import Settings

TRAIN_UNTIL, TEST_YEAR, N_DRAWS = dt.date(2024, 12, 31), 2025, 200


def full_sample_store(folder: Path) -> str:
    """The default-size generated sample, six kinds ingested, in a new SQLite store."""
    from geo_service.ingest import IngestOptions, ingest_file
    from geo_service.sample import write_sample
    from geo_service.store import make_engine, migrate
    from geo_service.store.boundaries import load_divisions, read_divisions_file

    write_sample(folder / "data")
    url = f"sqlite:///{folder / 'geo.db'}"
    engine = make_engine(url)
    migrate(engine)
    load_divisions(engine, read_divisions_file())
    for kind in KINDS:
        options = IngestOptions(
            kind=kind, rejects_path=folder / f"{kind}.rejects.csv", progress=False
        )
        ingest_file(engine, folder / "data" / f"{kind}.csv", options)
    engine.dispose()
    return url


def _spread(stats: dict[str, Any], percent: bool = True) -> str:
    fmt = "{:.1%}" if percent else "{:.2f}"
    low, high = fmt.format(stats["p05"]), fmt.format(stats["p95"])
    return f"{fmt.format(stats['mean'])} (p05–p95 {low}–{high})"


def run(quick: bool = False) -> list[Row]:
    from geo_service.planning.draws import run_backtest
    from geo_service.store import make_engine

    with tempfile.TemporaryDirectory() as tmp:
        with stopwatch() as prepare:
            url = sample_store(Path(tmp)) if quick else full_sample_store(Path(tmp))
        engine = make_engine(url)
        with stopwatch() as elapsed:
            result = run_backtest(
                engine,
                train_until=TRAIN_UNTIL,
                test_year=TEST_YEAR,
                settings=Settings(database_url=url),
                n_draws=N_DRAWS,
            )
        engine.dispose()
    lift = result["lift"]
    sizes = ", ".join(
        f"{s} {k}/{result['population'][s]}" for s, k in result["sample_size"].items()
    )
    note = (
        f"{'bundled slice' if quick else 'default-size sample'}; lift ratio of mean hit rates "
        f"{lift['ratio_of_means']:.2f}, per-draw lift {_spread(lift, percent=False)}, "
        f"{lift['undefined']} draws undefined; {int(result['violations']):,} cases in "
        f"{TEST_YEAR} at {sum(result['population'].values()):,} enterprises; drawn per "
        f"stratum {sizes}; scoring + {N_DRAWS} draws {elapsed():.1f} s (store built in "
        f"{prepare():.0f} s)"
    )
    return [
        Row(
            work=f"backtest: risk-weighted draw, risk to {TRAIN_UNTIL}, hits = {TEST_YEAR} cases",
            figure=f"hit rate {_spread(result['risk_weighted_hit_rate'])}",
            target="lift > 1 (p05 of per-draw lift)",
            met=lift["p05"] is not None and lift["p05"] > 1.0,
            baseline="uniform draw, same stratified sizes (common random numbers)",
            baseline_figure=f"hit rate {_spread(result['uniform_hit_rate'])}",
            note=note,
        )
    ]
