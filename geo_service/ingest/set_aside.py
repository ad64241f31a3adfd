"""What an ingest sets aside before it writes its batch: the prepared records (staging
files) and rejects (Arrow IPC files), chunk by chunk, in a private temporary folder."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
from sqlalchemy import Table

from geo_service.ingest.staging import Staging
from geo_service.ingest.writer import MOST_ATTACHED


@dataclass
class ChunkRecords:
    """What a chunk sets aside: its records as Arrow, and the ids and counts the batch
    keeps of them (compact: a worker process sends it back whole)."""

    table: pa.Table | None  # the records (None: none accepted)
    rows: int
    ids: list[str]  # the records' ids (the roster's and the linked kinds', else empty)
    by_method: Counter[str]
    by_link: Counter[str] | None = None  # linked kinds: records by link method
    reviews: list[dict[str, Any]] | None = None  # linked kinds: their link_reviews rows
    exclusions: list[dict[str, str]] | None = None  # the roster's (inspector_id, credit_code)


#: Called with a group of records set aside in full (its staging file) and its number.
GroupReady = Callable[[Staging, int], None]


class SetAside:
    """A file's prepared records (:class:`Staging` files) and rejects (Arrow IPC files,
    chunk by chunk) in a private temporary folder, with the counts the batch records;
    memory stays bounded however long the file. The records are written and the
    rejects stored and listed from these files, in file order.

    With a ``group_plan`` (the chunks each group holds, its last size kept for any
    further group), the records go into a new staging file once a group is full (at
    most :data:`~geo_service.ingest.writer.MOST_ATTACHED` files), and each full one is
    given to ``on_group`` so that it can be written while the rest of the file is read;
    :meth:`seal` gives the last one.
    """

    def __init__(
        self,
        folder: Path,
        table: Table,
        group_plan: Sequence[int] | None = None,
        on_group: GroupReady | None = None,
    ) -> None:
        self.folder = folder
        folder.mkdir()
        self.table = table
        self.accepted = 0
        self.rejected = 0
        self.by_method: Counter[str] = Counter()
        self.by_reason: Counter[str] = Counter()
        self.by_link: Counter[str] = Counter()  # linked kinds: records by link method
        self.reviews: list[dict[str, Any]] | None = None  # linked kinds: the review list
        self.record_ids: list[str] = []  # linked kinds: every record's id (their reviews)
        self.ids: list[str] | None = None  # the roster's officers, for their exclusions
        self.exclusions: list[dict[str, str]] | None = None
        self.groups: list[Staging] = []
        self._group_plan = group_plan
        self._on_group = on_group
        self._rejects: list[Path] = []
        self.staging = self._new_group()

    def _new_group(self) -> Staging:
        staging = Staging(self.folder / f"rows-{len(self.groups)}.sqlite", self.table)
        self.groups.append(staging)
        return staging

    def _hand_over(self) -> None:
        self.staging.finish()
        if self._on_group is not None and self.staging.columns is not None:
            self._on_group(self.staging, len(self.groups) - 1)

    def _full(self) -> bool:
        """Whether the group being set aside holds the chunks its plan gives it."""
        plan = self._group_plan
        if not plan:
            return False
        return len(self.staging.ends) >= plan[min(len(self.groups), len(plan)) - 1]

    def add(self, records: ChunkRecords, rejected: pd.DataFrame) -> None:
        """Set aside one chunk's records and rejects."""
        if records.exclusions is not None:
            self.ids = self.ids or []
            self.ids.extend(records.ids)
            self.exclusions = self.exclusions or []
            self.exclusions.extend(records.exclusions)
        if records.reviews is not None:
            self.reviews = self.reviews or []
            self.reviews.extend(records.reviews)
            self.record_ids.extend(records.ids)
        if records.by_link is not None:
            self.by_link.update(records.by_link)
        if records.table is not None:
            self.staging.append(records.table)
            if self._full() and len(self.groups) < MOST_ATTACHED:
                self._hand_over()
                self.staging = self._new_group()
        self.accepted += records.rows
        self.by_method.update(records.by_method)
        if len(rejected):
            values = [json.dumps(v, ensure_ascii=False) for v in rejected["values"]]
            arrow = pa.table(
                {
                    "row_number": pa.array(rejected["row_number"].to_numpy(), pa.int64()),
                    "reason": pa.array(rejected["reason"].tolist(), pa.string()),
                    "detail": pa.array(rejected["detail"], pa.string(), from_pandas=True),
                    "values": pa.array(values, pa.string()),
                }
            )
            self._rejects.append(self._write("rejects", arrow))
        self.rejected += len(rejected)
        self.by_reason.update(str(r) for r in rejected["reason"])

    def _write(self, name: str, table: pa.Table) -> Path:
        path = self.folder / f"{name}-{len(self._rejects):07d}.arrow"
        options = pa.ipc.IpcWriteOptions(compression="zstd")
        with (
            pa.OSFile(str(path), "wb") as sink,
            pa.ipc.new_file(sink, table.schema, options=options) as out,
        ):
            out.write_table(table)
        return path

    @staticmethod
    def _read(path: Path) -> pa.Table:
        with pa.OSFile(str(path), "rb") as source:
            return pa.ipc.open_file(source).read_all()

    def rejects(self) -> Iterator[pd.DataFrame]:
        """The rejects chunk by chunk, as :func:`rejected_frame` gave them."""
        for path in self._rejects:
            frame = self._read(path).to_pandas(types_mapper=None)
            yield pd.DataFrame(
                {
                    "row_number": frame["row_number"].to_numpy(),
                    "reason": frame["reason"].to_numpy(dtype=object),
                    "detail": frame["detail"].astype(object).where(frame["detail"].notna(), None),
                    "values": [json.loads(v) for v in frame["values"]],
                }
            )

    def seal(self) -> None:
        """After the last chunk: wait for its records, and give the last group."""
        self._hand_over()

    def close(self) -> None:
        """Close the staging files (the folder goes with the ingest's)."""
        for staging in self.groups:
            staging.close()

    def discard(self) -> None:
        """Delete what was set aside (a read that starts again)."""
        self.close()
        shutil.rmtree(self.folder, ignore_errors=True)
