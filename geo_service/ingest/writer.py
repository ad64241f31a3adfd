"""Writing accepted records into the store: upsert on the natural key, in chunks."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Table, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert

_KEY_CHUNK = 5_000


def _insert(table: Table, dialect: str) -> Any:
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"no upsert for the {dialect} dialect")


def upsert_statement(table: Table, key: str, columns: list[str], dialect: str) -> Insert:
    """``INSERT … ON CONFLICT (key) DO UPDATE`` setting every given column but the key."""
    stmt = _insert(table, dialect)
    update = {c: stmt.excluded[c] for c in columns if c != key}
    return stmt.on_conflict_do_update(index_elements=[key], set_=update)


def existing_keys(conn: Connection, table: Table, key: str, values: list[str]) -> set[str]:
    """Which of ``values`` are already stored as ``table.key``."""
    found: set[str] = set()
    column = table.c[key]
    for start in range(0, len(values), _KEY_CHUNK):
        chunk = values[start : start + _KEY_CHUNK]
        found.update(conn.execute(select(column).where(column.in_(chunk))).scalars())
    return found


def frame_to_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """DataFrame → list of dicts with ``None`` for missing values and plain Python scalars."""
    cleaned = frame.astype(object).where(frame.notna(), None)
    records: list[dict[str, Any]] = cleaned.to_dict(orient="records")  # type: ignore[assignment]
    for record in records:
        for name, value in record.items():
            if isinstance(value, np.generic):
                record[name] = value.item()
    return records


def chunks(frame: pd.DataFrame, size: int) -> Iterator[pd.DataFrame]:
    """Consecutive slices of ``size`` rows."""
    for start in range(0, len(frame), size):
        yield frame.iloc[start : start + size]
