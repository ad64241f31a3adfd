"""The audit log's writer: an entry is stored before its answer is sent, and none is lost.

Entries recorded at the same time share one transaction (group commit): a caller that
finds no batch being written writes the open one at once in its own thread, and the
entries that join while it does are handed to a commit thread of the log, which writes
batch after batch until none is left. Thirty-two concurrent reads cost a few writes,
not thirty-two turns of SQLite's write lock, and a thread is woken only at a hand-over.
A route waits for its entry in one of two ways. :meth:`AuditLog.record` returns once the
entry is committed (the calling thread sleeps until then, if another writes it). With
``answer=`` (an :class:`Answer` from the :func:`audit_before_answer` dependency) it
returns at once, and the answer's bytes, made by then, are held on the event loop until
the commit ends: no worker thread sleeps for it. Either way an answer is sent only
after its entry is committed (or journaled, below), so an answer that was sent has its
entry, and a crash before the commit loses only answers never sent; a commit that fails
fails each answer of its batch.

On SQLite one writer holds the database at a time, and an ingest's batch is one
transaction that can hold it for minutes. If the lock is not free within 250 ms, the
batch is appended (and fsync'd) to a journal file of this process beside the database
instead, and a background thread writes it as soon as the lock is free, then drops it
from the journal. A process that dies with entries in its journal leaves them there:
the next process on the same store replays them. Every entry carries a key of its own,
stored with it under a unique index, so a replay writes exactly the entries not yet in
the store, even when their writer died between its commit and the journal's update.

PostgreSQL does not lock writers out during an ingest: no journal, only the shared
commits.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import itertools
import json
import logging
import os
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, and_, insert, or_, select
from sqlalchemy.exc import OperationalError

from geo_service.access.policy import Caller
from geo_service.core.processes import pid_alive
from geo_service.store.models import AuditEntry

LOG = logging.getLogger(__name__)

#: A batch waits 250 ms for SQLite's write lock before journaling its entries instead;
#: then the store's own lock wait (geo_service.store.db) is restored.
SHORT_WAIT = "PRAGMA busy_timeout=250"
STORE_WAIT = "PRAGMA busy_timeout=30000"
RETRY_SECONDS = 0.5
#: The writer thread of the shared commits ends after this long without entries (a
#: process that records rarely, or not any more, keeps no thread waiting).
IDLE_SECONDS = 2.0
#: Keys looked up per query when a replay checks which entries are already stored.
KEYS_PER_QUERY = 500


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


def journaled_entries(engine: Engine) -> int:
    """Entries waiting in the store's journals (of every process on it) for SQLite's write
    lock: what a reader of the store alone does not see yet."""
    directory = journal_dir_for(engine)
    if directory is None or not directory.is_dir():
        return 0
    waiting = 0
    for path in directory.glob("*.jsonl"):
        with contextlib.suppress(FileNotFoundError):  # written and removed meanwhile
            waiting += sum(1 for line in path.read_text(encoding="utf-8").splitlines() if line)
    return waiting


class _Batch:
    """Entries committed together, whether (and how) their commit ended, and who waits for
    it: threads on a condition of the batch's own (so that a commit wakes only its own
    callers), answers held on an event loop by their futures."""

    __slots__ = ("done", "entries", "error", "held", "ready")

    def __init__(self, lock: threading.Lock) -> None:
        self.entries: list[dict[str, Any]] = []
        self.done = False
        self.error: BaseException | None = None
        self.ready = threading.Condition(lock)
        self.held: list[asyncio.Future[None]] = []


class Answer:
    """The audit entries of one answer, recorded without waiting
    (``AuditLog.record(..., answer=...)``): :meth:`landed` returns once each is committed
    or journaled, on the event loop, without a thread waiting for it."""

    __slots__ = ("_entries",)

    def __init__(self) -> None:
        self._entries: list[tuple[AuditLog, _Batch]] = []

    async def landed(self) -> None:
        """Wait until every entry is committed or journaled; raise its commit's error."""
        for log, batch in self._entries:
            await log._landed(batch)


async def audit_before_answer() -> AsyncIterator[Answer]:
    """A FastAPI dependency with ``scope="function"`` (its end runs after the route and
    before the answer is sent): the route records with ``answer=`` the value given, and
    its answer is sent once those entries are committed or journaled, or not at all (an
    error instead) if their commit fails."""
    answer = Answer()
    yield answer
    await answer.landed()


class AuditLog:
    """Writes audit entries for one store (see the module docstring)."""

    def __init__(self, engine: Engine, journal_dir: Path | None = None) -> None:
        self.engine = engine
        self.journal_dir = journal_dir if journal_dir is not None else journal_dir_for(engine)
        # the shared commits: the open batch, its writer thread and the callers waiting
        self._lock = threading.Lock()
        self._work = threading.Condition(self._lock)  # the commit thread waits for entries
        self._open = _Batch(self._lock)  # the batch entries join while another is written
        self._writing = False  # a thread writes batches: it takes the open one next
        self._handed = False  # that thread is the commit thread
        self._committing = False  # a commit thread runs (or is starting)
        self._committer: threading.Thread | None = None
        self._stopping = False
        # the journal: its own lock, held while it is written and fsync'd, which neither
        # the shared commits nor the event loop waiting for them then wait behind
        self._pending: list[dict[str, Any]] = []
        self._wake = threading.Condition(threading.Lock())  # the journal's writer and flush()
        self._thread: threading.Thread | None = None
        self._closed = False
        # entry keys: random per writer, then counted (no system call per entry: under
        # load each one is a wait for the GIL behind every other request's thread)
        self._key_prefix = os.urandom(8).hex()
        self._keys = itertools.count()
        self.journaled = 0  # entries that waited in the journal (this process)
        self.batches = 0  # batches of the request path written or journaled (this process)
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
        *,
        answer: Answer | None = None,
    ) -> None:
        """Store one entry, in a commit shared with the entries recorded meanwhile, or journal
        it for the background writer if SQLite's write lock stays taken. Return after; with
        ``answer``, at once, the answer then waiting for it (:func:`audit_before_answer`)."""
        entry = {
            "at": dt.datetime.now(dt.UTC).isoformat(),
            "account": caller.name,
            "role": caller.role,
            "action": action,
            "resource": resource[:200],
            "parameters": parameters,
            "records": records,
            "address": caller.address,
            "entry_key": f"{self._key_prefix}{next(self._keys):016x}",
        }
        if self.journal_dir is not None and self.pending():
            self._enqueue([entry])  # keep the order: behind those already waiting
            return
        batch = self._join(entry)
        if answer is not None:
            answer._entries.append((self, batch))
            return
        with self._lock:
            while not batch.done:
                batch.ready.wait()
        if batch.error is not None:
            raise batch.error

    def pending(self) -> int:
        """Entries journaled and not yet in the store."""
        with self._wake:
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
        """Write the open batch, flush, then stop the writers; entries still pending stay in
        the journal file. Entries recorded later are still written, each batch by a thread
        that ends once it is."""
        with self._lock:
            self._stopping = True
            self._work.notify_all()
            committer = self._committer
        if committer is not None:
            committer.join(timeout)
        self.flush(timeout)
        with self._wake:
            self._closed = True
            self._wake.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # -- the shared commits of the request path ----------------------------------------

    def _join(self, entry: dict[str, Any]) -> _Batch:
        """Put the entry in the open batch. If no batch is being written, this thread
        writes it at once (no other thread to wake); the entries that joined meanwhile
        are then handed to the commit thread, which writes batch after batch until none
        is left, so that this caller's answer does not wait for theirs."""
        with self._lock:
            batch = self._open
            batch.entries.append(entry)
            if self._writing:  # the writer takes it next
                return batch
            self._writing = True
            self._open = _Batch(self._lock)
        try:
            self._write(batch)
        finally:
            self._hand_over()
        return batch

    def _hand_over(self) -> None:
        """After a caller's own write: the open batch to the commit thread, if it has
        entries; otherwise the next entry's caller writes it."""
        with self._lock:
            if not self._open.entries:
                self._writing = False
                return
            self._handed = True
            if self._committing:
                self._work.notify()
                return
            self._committing = True
            committer = threading.Thread(target=self._commit, name="audit-commits", daemon=True)
            self._committer = committer
        committer.start()

    def _commit(self) -> None:
        """The commit thread: once handed the open batch, write it (every entry that joined
        while the last one was written), and again until none is left; end when idle."""
        while True:
            with self._lock:
                while not self._handed:
                    idle = self._stopping or not self._work.wait(IDLE_SECONDS)
                    if idle and not self._handed:
                        self._committing = False
                        return
                batch = self._open
                if not batch.entries:  # none left: the next entry's caller writes it
                    self._handed = self._writing = False
                    continue
                self._open = _Batch(self._lock)
            try:
                self._write(batch)
            except BaseException:  # the thread ends: the next entry's caller writes
                with self._lock:
                    self._handed = self._writing = self._committing = False
                raise

    def _write(self, batch: _Batch) -> None:
        """Write a batch; its callers get its error, if any, when it is settled."""
        try:
            self._write_batch(batch.entries)
        except Exception as exc:
            batch.error = exc
        except BaseException as exc:
            batch.error = exc
            raise
        finally:
            self._settle(batch)

    def _settle(self, batch: _Batch) -> None:
        """The batch is written (or failed): wake its threads, release its held answers."""
        with self._lock:
            batch.done = True
            self.batches += 1
            batch.ready.notify_all()
            held, batch.held = batch.held, []
        by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
        for future in held:
            by_loop.setdefault(future.get_loop(), []).append(future)
        for loop, futures in by_loop.items():
            with contextlib.suppress(RuntimeError):  # a loop closed meanwhile: none waits
                loop.call_soon_threadsafe(_release, futures)

    async def _landed(self, batch: _Batch) -> None:
        """Wait on the running event loop until ``batch`` is written; raise its error."""
        with self._lock:
            future = None
            if not batch.done:
                future = asyncio.get_running_loop().create_future()
                batch.held.append(future)
        if future is not None:
            await future
        if batch.error is not None:
            raise batch.error

    def _write_batch(self, entries: list[dict[str, Any]]) -> None:
        """Into the store now; on SQLite into the journal if the lock is not free soon."""
        if self.journal_dir is None:  # no writer lock to wait for: straight into the store
            self._insert(entries)
            return
        if self.pending():  # entries wait in the journal: these go behind them
            self._enqueue(entries)
            return
        try:
            self._insert(entries, short_wait=True)
        except OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            self._enqueue(entries)

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
            for line in path.read_text(encoding="utf-8").splitlines():
                entry = _entry(line) if line.strip() else None
                if entry is not None:
                    orphans.append(entry)
            claimed.append(path)
        if not claimed:
            return
        with self._wake:  # into this process's journal first, then drop the dead one's
            self._pending.extend(orphans)
            self._rewrite_journal()
        for path in claimed:
            if path != self.journal:
                path.unlink(missing_ok=True)
                path.with_suffix(".tmp").unlink(missing_ok=True)  # a rewrite cut short
        if orphans:
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
                conn.execute(_INSERT, rows)


_INSERT = insert(AuditEntry)  # built once: each batch only executes it


def _release(futures: list[asyncio.Future[None]]) -> None:
    for future in futures:
        if not future.done():  # not cancelled meanwhile
            future.set_result(None)


def _entry(line: str) -> dict[str, Any] | None:
    """A journal line's entry; None for a line cut short when its writer died mid-write
    (never fsync'd, so its request was never answered)."""
    try:
        entry: dict[str, Any] = json.loads(line)
    except json.JSONDecodeError:
        LOG.warning("an unfinished audit journal line was left out: %r", line[:200])
        return None
    entry.setdefault("entry_key", None)  # journals written before entries had keys
    return entry


@contextlib.contextmanager
def _lock_wait(conn: Any, short_wait: bool) -> Iterator[None]:
    if not short_wait or conn.dialect.name != "sqlite":
        yield
        return
    raw = conn.connection.driver_connection  # a pragma of the connection, not a statement
    raw.execute(SHORT_WAIT)  # of the transaction: no need of SQLAlchemy's execution path
    try:
        yield
    finally:
        raw.execute(STORE_WAIT)


def _not_yet_stored(conn: Any, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows not already in the log (a writer that died between commit and journal update),
    each key once (a replayer that died between copying a dead process's journal into its
    own and deleting it left both): by their keys; entries journaled before entries had
    keys by time, account and path."""
    keys = list(dict.fromkeys(r["entry_key"] for r in rows if r.get("entry_key")))
    seen: set[str] = set()
    for start in range(0, len(keys), KEYS_PER_QUERY):
        chunk = keys[start : start + KEYS_PER_QUERY]
        found = conn.execute(select(AuditEntry.entry_key).where(AuditEntry.entry_key.in_(chunk)))
        seen.update(found.scalars())
    unkeyed = [r for r in rows if not r.get("entry_key")]
    stored = _stored_unkeyed(conn, unkeyed) if unkeyed else set()
    out = []
    for row in rows:
        key = row.get("entry_key")
        if key is None:
            if _identity(row) not in stored:
                out.append(row)
        elif key not in seen:
            seen.add(key)
            out.append(row)
    return out


def _stored_unkeyed(conn: Any, rows: list[dict[str, Any]]) -> set[tuple[Any, ...]]:
    conditions = [
        and_(
            AuditEntry.at == r["at"],
            AuditEntry.account == r["account"],
            AuditEntry.resource == r["resource"],
        )
        for r in rows
    ]
    stored: set[tuple[Any, ...]] = set()
    for start in range(0, len(conditions), 200):
        found = conn.execute(
            select(AuditEntry.at, AuditEntry.account, AuditEntry.resource).where(
                or_(*conditions[start : start + 200])
            )
        )
        stored.update((_naive(at), account, res) for at, account, res in found)
    return stored


def _identity(row: dict[str, Any]) -> tuple[Any, ...]:
    return _naive(row["at"]), row["account"], row["resource"]


def _naive(value: dt.datetime) -> dt.datetime:
    """SQLite gives timestamps back without their zone: compare in UTC, naive."""
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value
