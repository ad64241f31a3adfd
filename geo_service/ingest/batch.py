"""Writing one ingest's batch in one transaction: its row in ``ingest_batches``, its
records, the roster's exclusions or the link reviews, and its rejects.

A batch is written after its file is read (:func:`store_batch`), or, for a large file,
group by group while the rest of the file is still read (:class:`EarlyBatch`): the
transaction then opens when the first group of records is set aside and holds the
store's write lock until the batch ends. Either way a failure anywhere stores nothing.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import queue
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, insert, update
from tqdm import tqdm

from geo_service.ingest import roster
from geo_service.ingest.columns import KindSpec
from geo_service.ingest.options import IngestOptions
from geo_service.ingest.set_aside import SetAside
from geo_service.ingest.staging import Staging
from geo_service.ingest.writer import begin_batch, bulk_indexes, count_rows, write_staged
from geo_service.linkage.register import load_register_index
from geo_service.linkage.relink import relink
from geo_service.linkage.reviews import has_reviews, replace_reviews
from geo_service.store.models import IngestBatch, RejectedRow


@dataclass(frozen=True)
class BatchOrigin:
    """What the batch row records of where its records came from."""

    path: Path
    sha256: str
    started: dt.datetime


def _open(conn: Connection, spec: KindSpec, origin: BatchOrigin, options: IngestOptions) -> int:
    """The batch's row, its counts filled in by :func:`_close`."""
    batch_id = conn.execute(
        insert(IngestBatch).returning(IngestBatch.id),
        {
            "kind": spec.kind,
            "source_name": options.source_name or str(origin.path),
            "file_sha256": origin.sha256,
            "rows": 0,
            "accepted": 0,
            "rejected": 0,
            "inserted": 0,
            "updated": 0,
            "by_method": {},
            "by_reason": {},
            "started_at": origin.started,
            "finished_at": origin.started,
            "account": options.account,
            "jurisdiction": options.within,
        },
    ).scalar_one()
    return int(batch_id)


def _close(
    conn: Connection,
    spec: KindSpec,
    prepared: SetAside,
    batch_id: int,
    before: int,
    options: IngestOptions,
) -> dict[str, Any]:
    """After the records: exclusions or reviews, the relink of a register, the rejects
    and the batch row's counts; the summary."""
    table = spec.table
    accepted, rejected = prepared.accepted, prepared.rejected
    by_method = {k: int(v) for k, v in sorted(prepared.by_method.items())}
    by_reason = {k: int(v) for k, v in sorted(prepared.by_reason.items())}
    if prepared.exclusions is not None:
        roster.replace_exclusions(conn, prepared.ids or [], prepared.exclusions)
    if prepared.reviews is not None:
        for review in prepared.reviews:
            review["batch_id"] = batch_id
        # a new file's records have no reviews to drop when the kind has none yet
        earlier = prepared.record_ids if has_reviews(conn, spec.kind) else []
        replace_reviews(conn, spec.kind, earlier, prepared.reviews)
    relinked = None
    if spec.kind == "enterprises":  # the register changed: every record is linked again
        relinked = relink(conn, load_register_index(conn), progress=options.progress)
    # ids are unique within a batch (repeats are rejected), so the growth is the inserts
    inserted = count_rows(conn, table) - before
    updated = accepted - inserted
    for part in prepared.rejects():
        conn.execute(insert(RejectedRow), _records(part.assign(batch_id=batch_id)))
    conn.execute(
        update(IngestBatch)
        .where(IngestBatch.id == batch_id)
        .values(
            rows=accepted + rejected,
            accepted=accepted,
            rejected=rejected,
            by_method=by_method,
            by_reason=by_reason,
            inserted=inserted,
            updated=updated,
            finished_at=dt.datetime.now(dt.UTC),
        ),
    )
    return {
        "rows": accepted + rejected,
        "accepted": accepted,
        "rejected": rejected,
        "inserted": inserted,
        "updated": updated,
        "by_method": by_method,
        "by_reason": by_reason,
        "batch_id": batch_id,
        **(
            {"by_link": dict(sorted(prepared.by_link.items()))}
            if prepared.reviews is not None
            else {}
        ),
        **({"relinked": relinked} if relinked is not None else {}),
    }


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(k): v for k, v in row.items()} for row in frame.to_dict(orient="records")]


def store_batch(
    engine: Engine,
    spec: KindSpec,
    prepared: SetAside,
    origin: BatchOrigin,
    options: IngestOptions,
) -> dict[str, Any]:
    """Write a file's batch once the whole file is set aside; the summary."""
    table = spec.table
    with begin_batch(engine, commit=not options.dry_run) as conn:
        batch_id = _open(conn, spec, origin, options)
        before = count_rows(conn, table)
        bar = tqdm(
            total=prepared.accepted,
            desc=f"ingest {spec.kind}",
            unit="rows",
            disable=not options.progress or None,
            leave=False,
        )
        with bulk_indexes(conn, table, prepared.accepted, existing=before):
            for group, staging in enumerate(prepared.groups):
                staged = write_staged(
                    conn, table, spec.id_column, staging, batch_id, group, fresh=before == 0
                )
                for written in staged:
                    bar.update(written)
        bar.close()
        return _close(conn, spec, prepared, batch_id, before, options)


class _Stop(Exception):  # noqa: N818 (a signal to roll back, not a failure)
    """The file was not read to its end: roll the batch back."""


@dataclass(frozen=True)
class _Done:
    prepared: SetAside


class EarlyBatch:
    """A batch written by a thread of its own, group by group as the file is set aside
    (:meth:`write` is :class:`SetAside`'s ``on_group``), then finished with
    :meth:`finish`; :meth:`abandon` rolls back what it wrote. ``rows`` is about how many
    records the file holds. Each group goes through the table's indexes while the next
    is prepared, except where :func:`~geo_service.ingest.writer.bulk_write` chooses the
    batch (on PostgreSQL, a large first load not scoped to a jurisdiction): its
    secondary indexes are dropped and rebuilt after the last group."""

    def __init__(
        self,
        engine: Engine,
        spec: KindSpec,
        origin: BatchOrigin,
        options: IngestOptions,
        rows: int = 0,
    ) -> None:
        self.engine, self.spec, self.origin, self.options = engine, spec, origin, options
        self.rows = rows
        self._work: queue.Queue[tuple[Staging, int] | _Done | None] = queue.Queue()
        self._summary: dict[str, Any] | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="ingest-batch", daemon=True)
        self._thread.start()

    def write(self, staging: Staging, group: int) -> None:
        """Write the group ``group`` of records (after those before it)."""
        self._raise()
        self._work.put((staging, group))

    def finish(self, prepared: SetAside) -> dict[str, Any]:
        """Write the rest of the batch once the file is set aside; the summary."""
        self._work.put(_Done(prepared))
        self._thread.join()
        self._raise()
        assert self._summary is not None
        return self._summary

    def abandon(self) -> None:
        """Roll back what was written (the file is read again, or the ingest failed)."""
        self._work.put(None)
        self._thread.join()

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        table, key = self.spec.table, self.spec.id_column
        item = self._work.get()  # the transaction opens with the first group, not before
        ended = item is None or isinstance(item, _Done)  # no more will be handed over
        try:
            if item is None:
                return
            with begin_batch(self.engine, commit=not self.options.dry_run) as conn:
                batch_id = _open(conn, self.spec, self.origin, self.options)
                before = count_rows(conn, table)
                # a scoped ingest reads the table while it writes (StoredPlaces, on a
                # connection of its own): a dropped index's lock would hold that read,
                # and this batch waiting for it, for ever
                indexes = (
                    bulk_indexes(conn, table, self.rows, before, overlapped=True)
                    if self.options.within is None
                    else contextlib.nullcontext()
                )
                with indexes:
                    while not isinstance(item, _Done):
                        if item is None:
                            raise _Stop
                        staged = write_staged(
                            conn, table, key, item[0], batch_id, item[1], fresh=before == 0
                        )
                        for _ in staged:
                            pass
                        item = self._work.get()
                        ended = item is None or isinstance(item, _Done)
                prepared = item.prepared
                self._summary = _close(conn, self.spec, prepared, batch_id, before, self.options)
        except _Stop:
            pass
        except BaseException as exc:  # given to the reading thread at its next hand-over
            self._error = exc
            while not ended:  # take what the reading thread still hands over, to its end
                item = self._work.get()
                ended = item is None or isinstance(item, _Done)
