"""The audit writer's shared commits, and its journal across crashes: every entry once.

Requests recording together share one commit; ``record`` returns after it, and an answer
held for its entry (``record(..., answer=...)``) is released after it. Entries that
waited in the journal (SQLite's write lock taken) survive a writer killed at any point:
before the store write, inside the store's transaction, or after the commit but before
the journal was updated. The next process replays them, each exactly once. A writer
killed inside a shared commit loses only entries whose answers were never released.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from geo_service.access.audit import Answer, AuditLog, journal_dir_for
from geo_service.access.policy import Caller, read_audit
from geo_service.store import make_engine, migrate
from geo_service.store.models import AuditEntry

CALLER = Caller(name="county-staff", role="inspector", jurisdiction="450102", address="10.0.0.7")
ROOT = Path(__file__).resolve().parents[3]
ENTRIES = 12


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'geo.db'}")
    migrate(engine)
    yield engine
    engine.dispose()


def _stored(engine: Engine) -> list[tuple[str, str]]:
    """(resource, entry key) of every stored entry, in the order stored."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(AuditEntry.resource, AuditEntry.entry_key).order_by(AuditEntry.id)
        ).all()
    return [(r.resource, r.entry_key) for r in rows]


def _count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(AuditEntry)).scalar_one())


def test_entries_recorded_together_share_one_commit(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While one batch is being written, the entries arriving meanwhile wait for the next
    one and are written together (group commit); each ``record`` returns once stored."""
    log = AuditLog(engine)
    real_insert = AuditLog._insert
    first_write = threading.Event()
    others_joined = threading.Event()
    calls: list[int] = []

    def insert(self: AuditLog, entries: list[dict[str, Any]], *args: Any, **kwargs: Any) -> None:
        calls.append(len(entries))
        if len(calls) == 1:
            first_write.set()
            assert others_joined.wait(60)  # held until every other caller has joined
        real_insert(self, entries, *args, **kwargs)

    monkeypatch.setattr(AuditLog, "_insert", insert)
    threads = [
        threading.Thread(target=log.record, args=(CALLER, "read", f"/r/{i}", {}, i))
        for i in range(8)
    ]
    threads[0].start()
    assert first_write.wait(60)
    for thread in threads[1:]:
        thread.start()
    while True:  # the other seven are in the open batch, waiting their turn
        with log._lock:
            if len(log._open.entries) == 7:
                break
        time.sleep(0.001)
    others_joined.set()
    for thread in threads:
        thread.join()
    assert calls == [1, 7] and log.batches == 2
    assert sorted(r for r, _ in _stored(engine)) == sorted(f"/r/{i}" for i in range(8))
    log.close()


def test_a_failed_shared_commit_fails_every_request_in_it(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A commit that fails (not a busy lock) is an error for each request of its batch:
    none of them answers as if its read were logged."""
    log = AuditLog(engine)

    def broken(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("the store went away")

    monkeypatch.setattr(AuditLog, "_insert", broken)
    with pytest.raises(RuntimeError, match="went away"):
        log.record(CALLER, "read", "/r", {}, 1)
    assert log.pending() == 0 and _count(engine) == 0


def test_a_held_answer_is_released_only_once_its_entry_is_committed(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While another caller's commit is held, ``record(..., answer=...)`` puts its entry in
    the next batch and returns; the answer's ``landed`` waits on the event loop until that
    batch is committed, and returns with the entry in the store."""
    log = AuditLog(engine)
    real_insert = AuditLog._insert
    writing, release = threading.Event(), threading.Event()

    def insert(self: AuditLog, entries: list[dict[str, Any]], *args: Any, **kwargs: Any) -> None:
        writing.set()
        assert release.wait(60)
        real_insert(self, entries, *args, **kwargs)

    monkeypatch.setattr(AuditLog, "_insert", insert)
    first = threading.Thread(target=log.record, args=(CALLER, "read", "/first", {}, 1))
    first.start()  # it writes its own batch, held
    assert writing.wait(60)

    async def answered() -> tuple[bool, int, int]:
        answer = Answer()
        await asyncio.to_thread(log.record, CALLER, "read", "/held", {}, 1, answer=answer)
        landed = asyncio.create_task(answer.landed())
        for _ in range(50):  # the loop's turns: a release not waiting for the commit ends
            await asyncio.sleep(0)
        released_early, stored_while_held = landed.done(), _count(engine)
        release.set()
        await landed
        return released_early, stored_while_held, _count(engine)

    assert asyncio.run(answered()) == (False, 0, 2)
    first.join()
    assert log.batches == 2
    log.close()


def test_a_failed_commit_fails_each_answer_held_for_it(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Held answers of a batch whose commit fails get its error, none a release."""
    log = AuditLog(engine)

    def broken(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("the store went away")

    monkeypatch.setattr(AuditLog, "_insert", broken)

    async def answered() -> list[BaseException | None]:
        answers = [Answer() for _ in range(3)]
        for i, answer in enumerate(answers):
            log.record(CALLER, "read", f"/r/{i}", {}, i, answer=answer)
        return await asyncio.gather(*(a.landed() for a in answers), return_exceptions=True)

    results = asyncio.run(answered())
    assert [type(r) for r in results] == [RuntimeError] * 3
    assert _count(engine) == 0 and log.pending() == 0
    log.close()


def test_concurrent_entries_all_arrive_once_with_the_lock_taken_half_way(
    engine: Engine, tmp_path: Path
) -> None:
    """32 threads record; half way through, another writer takes SQLite's lock. Entries
    then wait in the journal; once the lock is free, every entry is stored exactly once."""
    log = AuditLog(engine)
    per_thread = 10
    half = threading.Barrier(33)
    holder = sqlite3.connect(tmp_path / "geo.db", isolation_level=None)

    def work(i: int) -> None:
        for j in range(per_thread):
            if j == per_thread // 2:
                half.wait()  # the main thread takes the lock here
                half.wait()
            log.record(CALLER, "read", f"/r/{i}/{j}", {"j": str(j)}, j)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(32)]
    for thread in threads:
        thread.start()
    half.wait()
    holder.execute("BEGIN IMMEDIATE")
    half.wait()
    for thread in threads:
        thread.join()
    assert log.journaled > 0  # the second half waited in the journal
    holder.execute("ROLLBACK")
    holder.close()
    assert log.flush(timeout=60)
    stored = _stored(engine)
    expected = {f"/r/{i}/{j}" for i in range(32) for j in range(per_thread)}
    assert len(stored) == len(expected) and {r for r, _ in stored} == expected
    assert len({k for _, k in stored}) == len(stored)
    log.close()


# -- a writer killed: the journal is replayed by the next process --------------------------

_CHILD = """
import os, sys
from geo_service.access.audit import AuditLog
from geo_service.access.policy import Caller
from geo_service.store import make_engine
import geo_service.access.audit as audit

engine = make_engine(sys.argv[1])
log = AuditLog(engine)
how = sys.argv[2]
if how == "after-commit":  # stored, then the process dies before it updates its journal
    AuditLog._rewrite_journal = lambda self: os._exit(9)
if how == "mid-transaction":  # inserted, then the process dies before the commit
    real = audit._not_yet_stored
    def dying(conn, rows):
        rows = real(conn, rows)
        conn.execute(audit.insert(audit.AuditEntry), rows)
        os._exit(9)
    audit._not_yet_stored = dying
caller = Caller(name="county-staff", role="inspector", jurisdiction="450102")
if sys.argv[4] == "thread":  # each record returns once its entry is stored or journaled
    for i in range(int(sys.argv[3])):
        log.record(caller, "read", f"/r/{i}", {"i": str(i)}, i)
else:  # each answer is held on the event loop until then, as the items page is
    import asyncio

    async def answered():
        for i in range(int(sys.argv[3])):
            answer = audit.Answer()
            await asyncio.to_thread(
                log.record, caller, "read", f"/r/{i}", {"i": str(i)}, i, answer=answer
            )
            await answer.landed()

    asyncio.run(answered())
print(log.journaled, flush=True)
sys.stdin.readline()  # the test frees the store (or kills this process) now
log.flush(timeout=60)
"""


def _child(url: str, how: str, waiting: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(_CHILD), url, how, str(ENTRIES), waiting],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def _journaled_keys(engine: Engine) -> list[str]:
    directory = journal_dir_for(engine)
    assert directory is not None
    lines = [line for path in directory.glob("*.jsonl") for line in path.read_text().splitlines()]
    return [json.loads(line)["entry_key"] for line in lines]


@pytest.mark.parametrize("waiting", ["thread", "answer"])
@pytest.mark.parametrize("how", ["killed", "mid-transaction", "after-commit"])
def test_a_writer_killed_mid_batch_loses_no_entry_and_duplicates_none(
    engine: Engine, tmp_path: Path, how: str, waiting: str
) -> None:
    """The child journals its entries while the store is locked (each ``record`` returning
    after, or each answer held until then), then dies: killed before any store write
    (SIGKILL), inside the store's transaction, or right after its commit and before its
    journal was updated. The next process stores each entry once."""
    url = engine.url.render_as_string(hide_password=False)
    holder = sqlite3.connect(tmp_path / "geo.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    child = _child(url, how, waiting)
    try:
        assert child.stdout is not None
        assert int(child.stdout.readline()) == ENTRIES  # every entry is in the journal
        keys = _journaled_keys(engine)
        assert len(set(keys)) == ENTRIES
        if how == "killed":
            child.send_signal(signal.SIGKILL)
            holder.execute("ROLLBACK")
        else:  # the child's writer stores them once the lock is free, and dies there
            holder.execute("ROLLBACK")
            assert child.stdin is not None
            with contextlib.suppress(BrokenPipeError):  # it may have died already
                child.stdin.write("\n")
                child.stdin.flush()
        child.wait(timeout=120)
    finally:
        holder.close()
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == (-signal.SIGKILL if how == "killed" else 9)
    stored_before = {k for _, k in _stored(engine)}  # the batch it had taken, if committed
    assert stored_before <= set(keys) and bool(stored_before) == (how == "after-commit")
    assert _journaled_keys(engine) == keys  # the dead child's journal is left whole

    replaying = AuditLog(engine)  # the next process on the store
    assert replaying.flush(timeout=60)
    stored = _stored(engine)
    assert sorted(k for _, k in stored) == sorted(keys)  # every entry, none twice
    assert sorted(r for r, _ in stored) == sorted(f"/r/{i}" for i in range(ENTRIES))
    assert _journaled_keys(engine) == []
    replaying.close()
    again = AuditLog(engine)  # and a later process has nothing left to replay
    assert again.pending() == 0 and len(_stored(engine)) == ENTRIES
    again.close()


_DYING_COMMIT = """
import asyncio, contextlib, os, sys, threading, time
import geo_service.access.audit as audit
from geo_service.access.audit import Answer, AuditLog
from geo_service.access.policy import Caller
from geo_service.store import make_engine

n = int(sys.argv[2])
log = AuditLog(make_engine(sys.argv[1]))
real_wait, commits, reached, loop_turn = audit._lock_wait, [], [], threading.Event()

@contextlib.contextmanager
def dying(conn, short_wait):  # ends after the insert, before its transaction commits
    with real_wait(conn, short_wait):
        yield
    commits.append(1)
    if len(commits) == 2:  # the second shared commit: inserted, then the process dies
        while len(reached) < n - 2:  # once every later answer but this caller's own
            time.sleep(0.001)  # waits (or was sent)
        loop.call_soon_threadsafe(loop_turn.set)  # and the loop has had its turn
        loop_turn.wait()
        os._exit(9)

audit._lock_wait = dying
caller = Caller(name="county-staff", role="inspector", jurisdiction="450102")

async def one(i):
    answer = Answer()
    await asyncio.to_thread(log.record, caller, "read", f"/r/{i}", {}, i, answer=answer)
    reached.append(i)
    await answer.landed()
    print(f"/r/{i}", flush=True)  # the answer is sent

async def main():
    global loop
    loop = asyncio.get_running_loop()
    await one(0)  # the first commit
    reached.clear()
    await asyncio.gather(*(one(i) for i in range(1, n)))

asyncio.run(main())
"""


def test_a_writer_killed_inside_a_shared_commit_loses_no_answered_entry(engine: Engine) -> None:
    """The writer dies inside the second shared commit, its entries inserted and not
    committed, while answers wait on the event loop for theirs: every answer released has
    its entry in the store (after the next process's replay too), and the entries of the
    commit that died, and of those behind it, were never answered."""
    url = engine.url.render_as_string(hide_password=False)
    child = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_DYING_COMMIT), url, str(ENTRIES)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    answered = child.stdout.split()
    replaying = AuditLog(engine)  # the next process on the store
    assert replaying.flush(timeout=60)
    stored = [r for r, _ in _stored(engine)]
    assert set(answered) <= set(stored)  # no answer was sent without its entry
    assert child.returncode == 9, child.stderr[-2000:]
    assert answered == ["/r/0"] and stored == ["/r/0"]  # the dying commit's: never answered
    replaying.close()


def _dead_pid() -> int:
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(done.stdout)


def _line(i: int) -> str:
    entry = {
        "at": f"2030-01-01T00:00:{i:02d}+00:00",
        "account": "a",
        "role": "admin",
        "action": "read",
        "resource": f"/r/{i}",
        "parameters": {},
        "records": i,
        "address": None,
        "entry_key": f"{i:032x}",
    }
    return json.dumps(entry) + "\n"


def test_the_same_entries_in_two_orphan_journals_are_stored_once(engine: Engine) -> None:
    """A replayer that died after copying a dead process's journal into its own and before
    deleting the original leaves both; the next replay stores each entry once."""
    directory = journal_dir_for(engine)
    assert directory is not None
    directory.mkdir(parents=True, exist_ok=True)
    first, second = _dead_pid(), _dead_pid()
    (directory / f"{first}.jsonl").write_text(_line(1) + _line(2))
    (directory / f"{second}.jsonl").write_text(_line(1) + _line(2) + _line(3))
    log = AuditLog(engine)
    assert log.flush(timeout=60)
    assert sorted(r for r, _ in _stored(engine)) == ["/r/1", "/r/2", "/r/3"]
    assert list(directory.glob("*.jsonl")) == []
    log.close()


def test_a_line_cut_short_by_a_crash_is_left_out(engine: Engine) -> None:
    """A journal line the dying writer had not finished (never fsync'd, so its request was
    never answered) is skipped; the whole lines before it are stored."""
    directory = journal_dir_for(engine)
    assert directory is not None
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{_dead_pid()}.jsonl").write_text(_line(1) + _line(2) + _line(3)[:40])
    log = AuditLog(engine)
    assert log.flush(timeout=60)
    assert sorted(r for r, _ in _stored(engine)) == ["/r/1", "/r/2"]
    log.close()


def test_readers_see_no_entry_key(engine: Engine) -> None:
    log = AuditLog(engine)
    log.record(CALLER, "read", "/r", {}, 1)
    (entry,) = read_audit(engine)
    assert "entry_key" not in entry and _stored(engine)[0][1] is not None
    log.close()


def test_a_process_gone_between_journal_and_store_leaves_no_stray_temp_file(
    engine: Engine,
) -> None:
    """A rewrite cut short leaves ``<pid>.tmp`` beside the whole journal: the replay reads
    the journal and removes both."""
    directory = journal_dir_for(engine)
    assert directory is not None
    directory.mkdir(parents=True, exist_ok=True)
    pid = _dead_pid()
    (directory / f"{pid}.jsonl").write_text(_line(1))
    (directory / f"{pid}.tmp").write_text(_line(1)[:10])
    log = AuditLog(engine)
    assert log.flush(timeout=60)
    assert [r for r, _ in _stored(engine)] == ["/r/1"]
    assert sorted(os.listdir(directory)) == []
    log.close()


def test_readers_of_the_store_are_told_of_entries_waiting_in_a_journal(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While SQLite's lock is taken an entry waits in the journal: ``/audit`` writes it first
    (AuditLog.flush), and ``geo-service audit``, which reads the store alone, counts it on
    standard error until it is stored."""
    from typer.testing import CliRunner

    from geo_service.access.audit import journaled_entries
    from geo_service.cli import app
    from geo_service.core.settings import get_settings

    monkeypatch.setenv("GEO_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    get_settings.cache_clear()
    holder = sqlite3.connect(tmp_path / "geo.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    log = AuditLog(engine)
    try:
        log.record(CALLER, "read", "/waiting", {}, 1)
        assert journaled_entries(engine) == 1
        result = CliRunner().invoke(app, ["audit"])  # readers are not locked out
        assert result.exit_code == 0, result.output
        assert "1 audit entries wait in the journal" in result.stderr
        assert "/waiting" not in result.stdout
        holder.execute("ROLLBACK")
        assert log.flush(timeout=60)
        assert journaled_entries(engine) == 0
        result = CliRunner().invoke(app, ["audit"])
        assert "/waiting" in result.stdout and "wait in the journal" not in result.stderr
    finally:
        holder.close()
        log.close()
        get_settings.cache_clear()


def test_a_commit_wakes_each_waiting_caller_once(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first caller writes its own batch; the seven that join meanwhile wait on
    theirs, which the commit thread writes next, and each wakes once, when it is stored,
    not once per commit."""
    import geo_service.access.audit as audit

    wakes: list[int] = []

    class Counted(threading.Condition):
        def wait(self, timeout: float | None = None) -> bool:
            woken = super().wait(timeout)
            wakes.append(threading.get_ident())
            return woken

    class Batch(audit._Batch):
        def __init__(self, lock: threading.Lock) -> None:
            super().__init__(lock)
            self.ready = Counted(lock)

    monkeypatch.setattr(audit, "_Batch", Batch)
    log = AuditLog(engine)
    real_insert = AuditLog._insert
    first_write = threading.Event()
    others_joined = threading.Event()

    def insert(self: AuditLog, entries: list[dict[str, Any]], *args: Any, **kwargs: Any) -> None:
        if not first_write.is_set():
            first_write.set()
            assert others_joined.wait(60)
        real_insert(self, entries, *args, **kwargs)

    monkeypatch.setattr(AuditLog, "_insert", insert)
    threads = [
        threading.Thread(target=log.record, args=(CALLER, "read", f"/w/{i}", {}, i))
        for i in range(8)
    ]
    threads[0].start()
    assert first_write.wait(60)
    for thread in threads[1:]:
        thread.start()
    while True:  # the other seven wait in the open batch
        with log._lock:
            if len(log._open.entries) == 7:
                break
        time.sleep(0.001)
    time.sleep(0.05)  # and are asleep on its condition
    others_joined.set()
    for thread in threads:
        thread.join()
    assert log.batches == 2 and len(_stored(engine)) == 8
    assert len(wakes) == 7 and set(wakes) == {t.ident for t in threads[1:]}
    log.close()
