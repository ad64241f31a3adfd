"""Stores for the draw tests: the sample slice with all six kinds, and example draws."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import pandas as pd
from sqlalchemy import Engine

from analytics.draw import record_bytes, run_draw
from geo_service.core.paths import SAMPLE_SLICE
from geo_service.ingest import IngestOptions, ingest_file
from geo_service.store import make_engine, migrate
from geo_service.store.boundaries import load_divisions
from geo_service.store.draws import save_draw

SIX_KINDS = ("enterprises", "cases", "inspections", "exceedances", "complaints", "inspectors")


def six_kind_store(folder: Path, divisions) -> Engine:  # type: ignore[no-untyped-def]
    """A SQLite store in ``folder`` with the bundled slice's six kinds ingested."""
    engine = make_engine(f"sqlite:///{folder / 'geo.db'}")
    migrate(engine)
    load_divisions(engine, divisions)
    for kind in SIX_KINDS:
        options = IngestOptions(
            kind=kind,
            rejects_path=folder / f"{kind}.rejects.csv",
            progress=False,
            today=dt.date(2026, 11, 28),
        )
        ingest_file(engine, SAMPLE_SLICE / f"{kind}.csv", options)
    return engine


def copy_store(engine: Engine, folder: Path) -> Engine:
    """A copy of a SQLite store in ``folder`` (for tests that change it)."""
    source = engine.url.database
    assert source is not None
    folder.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(source) as src, sqlite3.connect(folder / "geo.db") as dst:
        src.backup(dst)
    return make_engine(f"sqlite:///{folder / 'geo.db'}")


def example_record(jurisdiction: str, quarter: str = "2025-Q1", seed: str = "example") -> str:
    """The canonical JSON of a small draw of made-up enterprises and officers."""
    enterprises = pd.DataFrame(
        {
            "credit_code": [f"91{jurisdiction}EXAMPLE{i:03d}" for i in range(8)],
            "name": [f"示例企业{i}" for i in range(8)],
            "category": ["key", "key", "special", "special", "general", "general", "general", None],
            "weight": [0.9, 0.1, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05],
            "reasons": [["repeat_offending"], [], ["hotspot"], [], [], [], [], []],
        }
    )
    roster = pd.DataFrame(
        {
            "inspector_id": [f"HJ{jurisdiction}{i:03d}" for i in range(4)],
            "name": ["甲", "乙", "丙", "丁"],
        }
    )
    context = {"data_version": 0, "quarter": quarter, "jurisdiction": jurisdiction}
    record = run_draw(
        enterprises,
        roster,
        quotas={"key": 0.5, "special": 0.5, "general": 0.25},
        exclude_since=None,
        seed=seed,
        context=context,
    )
    return record_bytes(record).decode("utf-8")


def store_example_draws(engine: Engine, jurisdictions: tuple[str, ...]) -> dict[str, str]:
    """One stored example draw per jurisdiction (idempotent); jurisdiction → draw id."""
    ids = {}
    for code in jurisdictions:
        stored = save_draw(
            engine,
            jurisdiction=code,
            quarter="2025-Q1",
            record_json=example_record(code),
            data_version=0,
            created_by="example",
            draw_id=f"example{code}",
        )
        ids[code] = stored.draw_id
    return ids
