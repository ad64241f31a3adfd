"""The audit log's writer: an entry is never lost and a read never waits on an ingest.

On SQLite one writer holds the database at a time, and an ingest's batch is one
transaction that can hold it for minutes. A read of point records must still be
answered and its audit entry must still land. So each entry is first tried in the
store with a short wait; if the store is busy the entry is appended (and flushed to
disk) to a journal file of this process beside the database, and a background thread
writes it as soon as the lock is free, then drops it from the journal. A process that
dies with entries in its journal leaves them there: the next process on the same
store replays them, skipping any that had already landed.

PostgreSQL does not lock readers out during an ingest: entries are written directly.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, and_, insert, or_, select, text
from sqlalchemy.exc import OperationalError

from geo_service.access.policy import Caller
from geo_service.core.processes import pid_alive
from geo_service.store.models import AuditEntry

LOG = logging.getLogger(__name__)

#: A request waits 250 ms for SQLite's write lock before journaling its entry instead;
#: then the store's own lock wait (geo_service.store.db) is restored.
SHORT_WAIT = text("PRAGMA busy_timeout=250")
STORE_WAIT = text("PRAGMA busy_timeout=30000")
RETRY_SECONDS = 0.5


def journal_dir_for(engine: Engine) -> Path | None:
    """Where a SQLite store's audit journals live (``<db>.audit-journal``); None otherwise."""
    if engine.url.get_backend_name() != "sqlite" or not engine.url.database:
        return None
    if engine.url.database == ":memory:":
        return None
    return (
        Path(engine.url.database)
        .resolve()
        .with_name(Path(engine.url.database).name + ".audit-journal")
    )


class AuditLog:
    """Writes audit entries for one store (see the module docstring)."""

    def __init__(self, engine: Engine, journal_dir: Path | None = None) -> None:
        self.engine = engine
        self.journal_dir = journal_dir if journal_dir is not None else journal_dir_for(engine)
        self._pending: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._thread: threading.Thread | None = None
        self._closed = False
        self.journaled = 0  # entries that waited in the journal (this process)
        self._replay_orphans()

    @property
    def journal(self) -> Path | None:
        """This process's journal file."""
        if self.journal_dir is None:
            return None
        return self.journal_dir / f"{os.getpid()}.jsonl"

    def record(
        self,
        caller: Caller,
        action: str,
        resource: str,
        parameters: dict[str, Any],
        records: int | None = None,
    ) -> None:
        """Write one entry now, or journal it for the background writer if the store is busy."""
        entry = {
            "at": dt.datetime.now(dt.UTC).isoformat(),
            "account": caller.name,
            "role": caller.role,
            "action": action,
            "resource": resource[:200],
            "parameters": parameters,
            "records": records,
            "address": caller.address,
        }
        if self.journal_dir is None:  # no writer lock to wait for: straight into the store
            self._insert([entry])
            return
        with self._lock:
            queued = bool(self._pending)  # keep the order: behind those already waiting
        if not queued:
            try:
                self._insert([entry], short_wait=True)
                return
            except OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
        self._enqueue([entry])

    def pending(self) -> int:
        """Entries journaled and not yet in the store."""
        with self._lock:
            return len(self._pending)

    def flush(self, timeout: float = 60.0) -> bool:
        """Wait until every journaled entry is in the store; False if ``timeout`` ran out."""
        deadline = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=timeout)
        with self._wake:
            while self._pending:
                left = (deadline - dt.datetime.now(dt.UTC)).total_seconds()
                if left <= 0:
                    return False
                self._wake.notify_all()
                self._wake.wait(min(left, RETRY_SECONDS))
        return True

    def close(self, timeout: float = 30.0) -> None:
        """Flush, then stop the writer; entries still pending stay in the journal file."""
        self.flush(timeout)
        with self._wake:
            self._closed = True
            self._wake.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # -- the journal and the writer thread ---------------------------------------------

    def _enqueue(self, entries: list[dict[str, Any]]) -> None:
        with self._wake:
            self._append_journal(entries)
            self._pending.extend(entries)
            self.journaled += len(entries)
        self._start_writer()

    def _append_journal(self, entries: list[dict[str, Any]]) -> None:
        assert self.journal is not None
        self.journal.parent.mkdir(parents=True, exist_ok=True)
        with self.journal.open("a", encoding="utf-8") as out:
            for entry in entries:
                out.write(json.dumps(entry, ensure_ascii=False) + "\n")
            out.flush()
            os.fsync(out.fileno())

    def _rewrite_journal(self) -> None:
        """The journal holds exactly the pending entries (called with the lock held)."""
        assert self.journal is not None
        if not self._pending:
            with contextlib.suppress(FileNotFoundError):
                self.journal.unlink()
            return
        partial = self.journal.with_suffix(".tmp")
        with partial.open("w", encoding="utf-8") as out:
            out.writelines(json.dumps(e, ensure_ascii=False) + "\n" for e in self._pending)
            out.flush()
            os.fsync(out.fileno())
        partial.replace(self.journal)

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._pending and not self._closed:
                    self._wake.wait()
                if self._closed and not self._pending:
                    return
                batch = list(self._pending)
            try:
                self._insert(batch, short_wait=True, skip_existing=True)  # close() can stop it
            except Exception as exc:  # the store is busy or away: keep them, try again
                LOG.info("audit entries wait for the store: %s", exc)
                with self._wake:
                    if self._closed:
                        return
                    self._wake.wait(RETRY_SECONDS)
                continue
            with self._wake:
                del self._pending[: len(batch)]
                self._rewrite_journal()
                self._wake.notify_all()

    def _replay_orphans(self) -> None:
        """Entries journaled by processes that are gone: this process writes them."""
        if self.journal_dir is None or not self.journal_dir.is_dir():
            return
        orphans: list[dict[str, Any]] = []
        claimed: list[Path] = []
        for path in sorted(self.journal_dir.glob("*.jsonl")):
            pid = int(path.stem) if path.stem.isdigit() else -1
            if pid != os.getpid() and pid_alive(pid):
                continue  # a live process writes its own
            lines = path.read_text(encoding="utf-8").splitlines()
            orphans.extend(json.loads(line) for line in lines if line.strip())
            claimed.append(path)
        if not orphans:
            return
        with self._wake:  # into this process's journal first, then drop the dead one's
            self._pending.extend(orphans)
            self._rewrite_journal()
        for path in claimed:
            if path != self.journal:
                path.unlink(missing_ok=True)
        self._start_writer()

    def _start_writer(self) -> None:
        with self._wake:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
                self._thread.start()
            self._wake.notify_all()

    # -- the store ---------------------------------------------------------------------

    def _insert(
        self, entries: list[dict[str, Any]], short_wait: bool = False, skip_existing: bool = False
    ) -> None:
        rows = [{**e, "at": dt.datetime.fromisoformat(e["at"])} for e in entries]
        with self.engine.begin() as conn, _lock_wait(conn, short_wait):
            if skip_existing:
                rows = _not_yet_stored(conn, rows)
            if rows:
                conn.execute(insert(AuditEntry), rows)


@contextlib.contextmanager
def _lock_wait(conn: Any, short_wait: bool) -> Iterator[None]:
    if not short_wait or conn.dialect.name != "sqlite":
        yield
        return
    conn.execute(SHORT_WAIT)
    try:
        yield
    finally:
        conn.execute(STORE_WAIT)


def _not_yet_stored(conn: Any, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows not already in the log (a writer that died between commit and journal update)."""
    keys = [
        and_(
            AuditEntry.at == r["at"],
            AuditEntry.account == r["account"],
            AuditEntry.resource == r["resource"],
        )
        for r in rows
    ]
    stored: set[tuple[Any, ...]] = set()
    for start in range(0, len(keys), 200):
        found = conn.execute(
            select(AuditEntry.at, AuditEntry.account, AuditEntry.resource).where(
                or_(*keys[start : start + 200])
            )
        )
        stored.update((_naive(at), account, res) for at, account, res in found)
    return [r for r in rows if (_naive(r["at"]), r["account"], r["resource"]) not in stored]


def _naive(value: dt.datetime) -> dt.datetime:
    """SQLite gives timestamps back without their zone: compare in UTC, naive."""
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value
