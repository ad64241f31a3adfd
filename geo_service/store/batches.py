"""Ingest batches and their rejected rows, read back from the store."""

from __future__ import annotations

import csv
import io
from typing import Any

from sqlalchemy import Engine, select

from geo_service.errors import NotFoundError
from geo_service.ingest.rejects import REJECT_COLUMNS
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


def rejects_csv(engine: Engine, batch_id: int) -> bytes:
    """A batch's rejected rows as the rejects file of ``geo-service ingest`` (UTF-8, BOM).

    Columns ``row_number``, ``reason``, ``detail``, then the rows' original columns under
    their original headers (in the order first seen).
    """
    read_batch(engine, batch_id)  # 404 for an unknown batch
    query = (
        select(RejectedRow.row_number, RejectedRow.reason, RejectedRow.detail, RejectedRow.values)
        .where(RejectedRow.batch_id == batch_id)
        .order_by(RejectedRow.row_number)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    headers: dict[str, None] = {}
    for row in rows:
        headers.update(dict.fromkeys(row.values))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([*REJECT_COLUMNS, *headers])
    for row in rows:
        writer.writerow([row.row_number, row.reason, row.detail or "",
                         *(row.values.get(h, "") for h in headers)])  # fmt: skip
    return out.getvalue().encode("utf-8-sig")
