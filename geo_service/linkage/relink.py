"""Linking the stored records again when the register changes.

A register file may add entries, correct names or move points. Every linked record
is then linked again exactly as an ingest would link it, reading and writing in
chunks inside the caller's transaction; only the records whose link, inherited
fields or register placement change are written.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Table, bindparam, func, select, update
from tqdm import tqdm

from analytics.cells import points_to_cells
from geo_service.linkage.inherit import FILLED, inherit
from geo_service.linkage.matching import LINK_COLUMNS, LinkRules, Located, link
from geo_service.linkage.register import RegisterIndex
from geo_service.linkage.reviews import has_reviews, replace_reviews, review_rows
from geo_service.store.frames import rows_frame
from geo_service.store.models import LINKED_TABLES, NATURAL_KEYS

#: The natural key of each linked table.
RECORD_IDS = {kind: NATURAL_KEYS[kind] for kind in LINKED_TABLES}
#: The columns of a record placed at its register entry, taken from the entry.
PLACE_COLUMNS = ("lon", "lat", "geocode_precision", "adcode", "city_adcode", "province_adcode")
_READ = (
    "id",
    "credit_code",
    "enterprise_name",
    "address",
    "lon",
    "lat",
    "geocode_method",
    "geocode_precision",
    "adcode",
    "city_adcode",
    "province_adcode",
    "industry_code",
    "inherited",
    *LINK_COLUMNS,
    "supervision_category",
)
_WRITTEN = (*LINK_COLUMNS, *FILLED, "supervision_category", "inherited")


def relink(
    conn: Connection,
    index: RegisterIndex,
    rules: LinkRules | None = None,
    chunk_rows: int = 100_000,
    progress: bool = False,
) -> dict[str, dict[str, int]]:
    """Link every stored record of every linked kind again; per kind, the records read,
    changed and by link method."""
    summary = {}
    for kind, model in LINKED_TABLES.items():
        table: Table = model.__table__  # type: ignore[attr-defined]
        total = int(conn.execute(select(func.count()).select_from(table)).scalar_one())
        bar = tqdm(total=total, desc=f"relink {kind}", unit="rows", disable=not progress or None)
        counts: Counter[str] = Counter()
        changed, last = 0, 0
        reviewed = has_reviews(conn, kind)
        while True:
            frame = _read(conn, table, last, chunk_rows)
            if frame.empty:
                break
            last = int(frame["id"].max())
            new, reviews = _relink_chunk(kind, frame, index, rules)
            changed += _write(conn, table, frame, new)
            if reviews or reviewed:
                replace_reviews(conn, kind, frame[RECORD_IDS[kind]].astype(str), reviews)
            counts.update(new["link_method"].fillna("none").astype(str).tolist())
            bar.update(len(frame))
        bar.close()
        summary[kind] = {"records": total, "changed": changed, **dict(sorted(counts.items()))}
    return summary


def _read(conn: Connection, table: Table, after: int, limit: int) -> pd.DataFrame:
    names = [c for c in (*_READ, "batch_id") if c in table.c]
    names.insert(1, RECORD_IDS[table.name])
    query = (
        select(*(table.c[c] for c in names))
        .where(table.c.id > after)
        .order_by(table.c.id)
        .limit(limit)
    )
    return rows_frame(conn.execute(query).all(), names, dtype=object)


def _relink_chunk(
    kind: str, frame: pd.DataFrame, index: RegisterIndex, rules: LinkRules | None
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """The link columns, inherited fields and register places of stored records."""
    own = frame.copy()
    inherited = own["inherited"].fillna("").astype(str).str.split(",")
    for field in FILLED:  # a value the register gave is not the record's own
        was = inherited.map(lambda fields, f=field: f in fields)
        own[field] = own[field].astype(object).where(~was, None)
    by_register = own["geocode_method"].eq("register")
    where = own.copy()  # a record placed at its entry is linked as if unplaced, as at ingest
    for column in ("lon", "lat"):
        where[column] = where[column].where(~by_register, np.nan)
    where["geocode_precision"] = where["geocode_precision"].where(~by_register, None)
    links = link(own, Located.of(where), index, rules)
    new = links.frame.copy()
    taken = inherit(own, new["enterprise_credit_code"], index)
    for column in taken.columns:
        new[column] = taken[column]
    moved = by_register & links.linked
    positions = new["enterprise_credit_code"][moved].map(index.position).astype(int).to_numpy()
    for column in PLACE_COLUMNS:
        new[column] = frame[column].astype(object)
        new.loc[moved, column] = index.frame[column].to_numpy(object)[positions]
    reviews = review_rows(kind, frame, RECORD_IDS[kind], links.candidates)
    return new, reviews


#: The written columns that hold numbers (the rest hold text).
_NUMBERS = ("link_score", "lon", "lat")


def _same(column: str, a: pd.Series, b: pd.Series) -> np.ndarray:
    """Per row, whether a stored value and a new one are the same (both missing: same)."""
    if column in _NUMBERS:
        x = pd.to_numeric(a, errors="coerce").to_numpy(np.float64)
        y = pd.to_numeric(b, errors="coerce").to_numpy(np.float64)
        return np.isclose(x, y, rtol=0, atol=1e-9) | (np.isnan(x) & np.isnan(y))
    x, y = a.to_numpy(object), b.to_numpy(object)
    x_missing, y_missing = pd.isna(x), pd.isna(y)
    return (x_missing & y_missing) | (~x_missing & ~y_missing & (x == y))


def _write(conn: Connection, table: Table, old: pd.DataFrame, new: pd.DataFrame) -> int:
    """Update the records whose written columns changed; the number updated."""
    columns = [*_WRITTEN, *PLACE_COLUMNS]
    differs = pd.Series(False, index=old.index)
    for column in columns:
        differs |= ~_same(column, old[column], new[column])
    if not differs.any():
        return 0
    rows = new[differs].copy()
    rows["h3_15"] = points_to_cells(rows["lon"].astype(float), rows["lat"].astype(float), 15)
    rows["_id"] = old.loc[differs, "id"].astype(int)
    values: dict[str, Any] = {c: bindparam(c) for c in (*columns, "h3_15")}
    statement = update(table).where(table.c.id == bindparam("_id")).values(values)
    records = rows[["_id", *columns, "h3_15"]].astype(object).where(rows.notna(), None)
    params = [
        {str(k): (v.item() if isinstance(v, np.generic) else v) for k, v in r.items()}
        for r in records.to_dict(orient="records")
    ]
    conn.execute(statement, params)
    return len(params)
