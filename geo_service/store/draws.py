"""Stored inspection draws (双随机): the canonical record, kept byte for byte, and its digest."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Engine, Table, false, insert, or_, select

from geo_service.core.errors import ConflictError
from geo_service.store.models import Draw

#: Characters of the record digest that make a draw id when none is given.
DRAW_ID_LENGTH = 16


class DrawConflictError(ConflictError, ValueError):
    """A different draw record is already stored under this draw id."""

    code = "draw_conflict"


@dataclass(frozen=True)
class StoredDraw:
    """A draw as stored: who made it, when, for what, and its record."""

    draw_id: str
    jurisdiction: str
    quarter: str
    seed_commitment: str | None
    seed: str | None
    data_version: int
    created_at: dt.datetime
    created_by: str
    record_json: str
    record_digest: str


def record_digest(record_json: str) -> str:
    """SHA-256 (hex) of a draw record's UTF-8 bytes.

    Examples
    --------
    >>> record_digest('{"a":1}')[:12]
    '015abd7f5cc5'
    """
    return hashlib.sha256(record_json.encode("utf-8")).hexdigest()


def jurisdiction_prefix(adcode: str) -> str:
    """The adcode prefix every division within ``adcode`` shares.

    Examples
    --------
    >>> jurisdiction_prefix("450000"), jurisdiction_prefix("450100"), jurisdiction_prefix("450103")
    ('45', '4501', '450103')
    """
    if adcode.endswith("0000"):
        return adcode[:2]
    if adcode.endswith("00"):
        return adcode[:4]
    return adcode


def save_draw(
    engine: Engine,
    *,
    jurisdiction: str,
    quarter: str,
    record_json: str,
    data_version: int,
    created_by: str,
    seed: str | None = None,
    seed_commitment: str | None = None,
    draw_id: str | None = None,
    created_at: dt.datetime | None = None,
) -> StoredDraw:
    """Store a draw record; its digest is computed here from ``record_json`` exactly as given.

    ``draw_id`` defaults to the first :data:`DRAW_ID_LENGTH` characters of the
    digest. Saving the same record under the same id again returns the stored
    draw unchanged (idempotent).

    Raises
    ------
    DrawConflictError
        When another record is stored under ``draw_id``.
    """
    digest = record_digest(record_json)
    draw_id = draw_id or digest[:DRAW_ID_LENGTH]
    existing = read_draw(engine, draw_id)
    if existing is not None:
        if existing.record_digest != digest:
            raise DrawConflictError(f"draw {draw_id} is already stored with another record")
        return existing
    stored = StoredDraw(
        draw_id=draw_id,
        jurisdiction=jurisdiction,
        quarter=quarter,
        seed_commitment=seed_commitment,
        seed=seed,
        data_version=int(data_version),
        created_at=created_at or dt.datetime.now(dt.UTC),
        created_by=created_by,
        record_json=record_json,
        record_digest=digest,
    )
    with engine.begin() as conn:
        conn.execute(insert(Draw), [vars(stored)])
    return stored


def _stored(row: Any) -> StoredDraw:
    created = row["created_at"]
    created = created if created.tzinfo else created.replace(tzinfo=dt.UTC)
    fields = {k: row[k] for k in StoredDraw.__dataclass_fields__}
    return StoredDraw(**(fields | {"created_at": created}))


def read_draw(engine: Engine, draw_id: str) -> StoredDraw | None:
    """The stored draw ``draw_id``, or None."""
    table: Table = Draw.__table__  # type: ignore[assignment]
    with engine.connect() as conn:
        row = conn.execute(select(table).where(table.c.draw_id == draw_id)).mappings().first()
    return None if row is None else _stored(row)


def list_draws(
    engine: Engine, jurisdiction_prefixes: Iterable[str] | None = None
) -> list[StoredDraw]:
    """Stored draws, oldest first; only those whose jurisdiction starts with one of the
    prefixes when given (see :func:`jurisdiction_prefix`; an empty list matches none)."""
    table: Table = Draw.__table__  # type: ignore[assignment]
    cond: ColumnElement[bool] | None = None
    if jurisdiction_prefixes is not None:
        prefixes = list(jurisdiction_prefixes)
        cond = or_(false(), *(table.c.jurisdiction.startswith(p) for p in prefixes))
    query = select(table).order_by(table.c.created_at, table.c.draw_id)
    if cond is not None:
        query = query.where(cond)
    with engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    return [_stored(r) for r in rows]
