"""The review list: records that several register entries fit about equally."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Table, delete, func, insert, select

from geo_service.store.models import LinkReview

#: Record ids deleted per statement (well under SQLite's bound on parameters).
_CHUNK = 500


def review_rows(
    kind: str,
    records: pd.DataFrame,
    id_column: str,
    candidates: Mapping[Any, list[dict[str, Any]]],
) -> list[dict[str, Any]]:
    """``link_reviews`` rows of the records (by index) with candidates."""
    rows = []
    for row, found in candidates.items():
        record = records.loc[row]
        rows.append(
            {
                "kind": kind,
                "record_id": str(record[id_column]),
                "enterprise_name": _text(record.get("enterprise_name")),
                "credit_code": _text(record.get("credit_code")),
                "adcode": _text(record.get("adcode")),
                "city_adcode": _text(record.get("city_adcode")),
                "province_adcode": _text(record.get("province_adcode")),
                "candidates": found,
                "batch_id": _integer(record.get("batch_id")),
            }
        )
    return rows


def _integer(value: Any) -> int | None:
    return None if value is None or pd.isna(value) else int(value)


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NA:
        return None
    return str(value)


def has_reviews(conn: Connection, kind: str) -> bool:
    """Whether any record of ``kind`` is on the review list."""
    query = select(func.count()).select_from(LinkReview).where(LinkReview.kind == kind)
    return bool(conn.execute(query).scalar_one())


def replace_reviews(
    conn: Connection, kind: str, record_ids: Iterable[str], rows: list[dict[str, Any]]
) -> None:
    """Drop the reviews of these records and store ``rows`` (in the caller's transaction):
    a record linked again is reviewed only if it is still ambiguous."""
    table: Table = LinkReview.__table__  # type: ignore[assignment]
    ids = list(record_ids)
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        conn.execute(delete(table).where(table.c.kind == kind, table.c.record_id.in_(chunk)))
    if rows:
        conn.execute(insert(table), rows)
