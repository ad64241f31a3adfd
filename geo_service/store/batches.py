"""Ingest batches and their rejected rows, read back from the store."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select

from geo_service.core.errors import NotFoundError
from geo_service.store.models import IngestBatch, RejectedRow


def read_batch(engine: Engine, batch_id: int) -> dict[str, Any]:
    """One batch's summary as stored (rows, accepted, rejected, by reason, times)."""
    columns = list(IngestBatch.__table__.columns)
    with engine.connect() as conn:
        row = conn.execute(select(*columns).where(IngestBatch.id == batch_id)).mappings().first()
    if row is None:
        raise NotFoundError(f"no ingest batch {batch_id}")
    return {
        **{k: v for k, v in row.items() if k not in ("id", "started_at", "finished_at")},
        "batch_id": row["id"],
        "started_at": row["started_at"].isoformat(),
        "finished_at": row["finished_at"].isoformat(),
    }


def read_rejects(engine: Engine, batch_id: int) -> list[tuple[int, str, str | None, Any]]:
    """A batch's rejected rows in row order: number, reason, detail and the original
    values by header (:func:`geo_service.ingest.rejects.rejects_csv` renders them). The
    caller has read the batch (:func:`read_batch`: 404 for an unknown one) and checked
    who may see it; an unknown batch has no rows."""
    query = (
        select(RejectedRow.row_number, RejectedRow.reason, RejectedRow.detail, RejectedRow.values)
        .where(RejectedRow.batch_id == batch_id)
        .order_by(RejectedRow.row_number)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return [(row.row_number, row.reason, row.detail, row.values) for row in rows]
