"""Generated case files for the fault tests, and a snapshot of what a store holds."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import Engine, inspect, text

from geo_service.store.models import RECORD_TABLES

#: Centre of the generated cases (Nanning) and their spread in degrees: all inside Guangxi.
CENTRE = (108.37, 22.82)
SPREAD_DEG = 0.25


def write_cases_csv(path: Path, n_rows: int, *, seed: int, prefix: str, bad_every: int = 0) -> int:
    """Write ``n_rows`` penalty cases with coordinates around Nanning to ``path`` (UTF-8).

    Ids are ``{prefix}-{i}``; every ``bad_every``-th row (if given) has an impossible
    date and is rejected by the ingest. Returns the number of rows that will be accepted.
    """
    rng = np.random.default_rng(seed)
    days = rng.integers(0, 4 * 365, n_rows)
    dates = (np.datetime64("2021-01-01") + days.astype("timedelta64[D]")).astype(str)
    if bad_every:
        dates[::bad_every] = "2024-13-45"
    frame = pd.DataFrame({
        "case_id": [f"{prefix}-{i}" for i in range(n_rows)],
        "decision_date": dates,
        "lon": np.round(CENTRE[0] + rng.uniform(-SPREAD_DEG, SPREAD_DEG, n_rows), 6),
        "lat": np.round(CENTRE[1] + rng.uniform(-SPREAD_DEG, SPREAD_DEG, n_rows), 6),
        "crs": "WGS84",
        "industry_code": rng.choice(["C2611", "C3011", "E4710", "C1931"], n_rows),
        "violation_type": rng.choice(["超标排放", "未批先建", "扬尘污染防治措施不到位"], n_rows),
        "penalty_amount": rng.integers(1, 100, n_rows) * 1000,
        "description": "现场检查发现超标排放，违反了《中华人民共和国大气污染防治法》的规定。",
    })  # fmt: skip
    frame.to_csv(path, index=False, encoding="utf-8")
    return n_rows - (len(range(0, n_rows, bad_every)) if bad_every else 0)


@dataclass(frozen=True)
class Snapshot:
    """Row counts and a digest of the content of the ingest's tables, and the indexes."""

    counts: dict[str, int]
    digests: dict[str, str]
    indexes: frozenset[str]


def _key_columns() -> dict[str, str]:
    """Per table: the columns the digest covers (ids, natural keys, batches)."""
    keys = {"enterprises": "credit_code", "cases": "case_id", "inspections": "inspection_id"}
    columns = {name: f"id, {keys[name]}, batch_id" for name in RECORD_TABLES}
    columns["ingest_batches"] = "id, kind, rows, accepted, rejected, inserted, updated"
    columns["rejected_rows"] = "id, batch_id, row_number, reason"
    return columns


def snapshot(engine: Engine) -> Snapshot:
    """What the store holds: counts and a SHA-256 of the key columns of every row (in id
    order) of the record tables, ``ingest_batches`` and ``rejected_rows``; its indexes."""
    counts, digests = {}, {}
    with engine.connect() as conn:
        for table, columns in _key_columns().items():
            rows = conn.execute(text(f"SELECT {columns} FROM {table} ORDER BY id")).all()
            counts[table] = len(rows)
            digests[table] = hashlib.sha256(repr([tuple(r) for r in rows]).encode()).hexdigest()
    names = inspect(engine)
    indexes = frozenset(
        f"{table}.{ix['name']}" for table in _key_columns() for ix in names.get_indexes(table)
    )
    return Snapshot(counts, digests, indexes)
