"""The audit writer: a read never waits on SQLite's write lock and no entry is lost."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from geo_service.access.audit import AuditLog, journal_dir_for
from geo_service.access.policy import Caller, read_audit
from geo_service.store import make_engine, migrate

CALLER = Caller(name="county-staff", role="inspector", jurisdiction="450102", address="10.0.0.7")


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'geo.db'}")
    migrate(engine)
    yield engine
    engine.dispose()


def _resources(engine: Engine) -> list[str]:
    return [e["resource"] for e in reversed(read_audit(engine))]


def test_an_entry_goes_straight_into_a_free_store(engine: Engine) -> None:
    log = AuditLog(engine)
    log.record(CALLER, "read", "/collections/cases/items", {"limit": "5"}, 5)
    assert log.pending() == 0 and log.journaled == 0
    (entry,) = read_audit(engine)
    assert entry["account"] == "county-staff" and entry["records"] == 5
    assert entry["parameters"] == {"limit": "5"} and entry["address"] == "10.0.0.7"


def test_a_locked_store_journals_the_entry_and_writes_it_when_free(
    engine: Engine, tmp_path: Path
) -> None:
    import sqlite3

    log = AuditLog(engine)
    holder = sqlite3.connect(tmp_path / "geo.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    log.record(CALLER, "read", "/first", {}, 1)
    log.record(CALLER, "read", "/second", {}, 2)  # behind the first, in order
    assert log.pending() == 2 and log.journaled == 2
    assert log.journal is not None
    journaled = [json.loads(line) for line in log.journal.read_text().splitlines()]
    assert [e["resource"] for e in journaled] == ["/first", "/second"]
    holder.execute("ROLLBACK")
    holder.close()
    assert log.flush(timeout=30)
    assert _resources(engine) == ["/first", "/second"]
    assert not log.journal.exists()
    log.close()


def _dead_pid() -> int:
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(done.stdout)


def test_entries_waiting_when_the_process_ends_are_written_by_the_next_one(
    engine: Engine, tmp_path: Path
) -> None:
    import sqlite3

    holder = sqlite3.connect(tmp_path / "geo.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    log = AuditLog(engine)
    log.record(CALLER, "read", "/while-locked", {}, 3)
    log.close(timeout=0.5)  # the process ends with the store still locked
    assert log.pending() == 1 and log.journal is not None and log.journal.exists()
    holder.execute("ROLLBACK")
    holder.close()
    assert read_audit(engine) == []
    orphan = log.journal.with_name(f"{_dead_pid()}.jsonl")
    log.journal.rename(orphan)  # as if that process had been another one, now gone

    replaying = AuditLog(engine)
    assert replaying.flush(timeout=30)
    assert _resources(engine) == ["/while-locked"]
    assert not orphan.exists() and replaying.journal is not None
    assert not replaying.journal.exists()
    replaying.close()


def test_replay_skips_entries_already_stored(engine: Engine, tmp_path: Path) -> None:
    log = AuditLog(engine)
    log.record(CALLER, "read", "/stored", {}, 1)
    (stored,) = read_audit(engine)
    log.close()
    entry = {
        "at": None,
        "account": "county-staff",
        "role": "inspector",
        "action": "read",
        "resource": "/stored",
        "parameters": {},
        "records": 1,
        "address": "10.0.0.7",
    }
    with engine.connect() as conn:  # the stored entry's own timestamp, as the journal holds it
        at = conn.execute(text("SELECT at FROM audit_log")).scalar_one()
    entry["at"] = at.isoformat() if hasattr(at, "isoformat") else str(at)
    later = {**entry, "resource": "/not-yet", "at": "2030-01-01T00:00:00+00:00"}
    directory = journal_dir_for(engine)
    assert directory is not None
    directory.mkdir(parents=True, exist_ok=True)
    orphan = directory / f"{_dead_pid()}.jsonl"
    orphan.write_text(json.dumps(entry) + "\n" + json.dumps(later) + "\n")

    replaying = AuditLog(engine)  # the next process on the store
    assert replaying.flush(timeout=30)
    assert sorted(_resources(engine)) == ["/not-yet", "/stored"]  # the stored one not twice
    assert stored["resource"] == "/stored"
    assert not orphan.exists()
    replaying.close()


def test_a_journal_of_a_live_process_is_left_to_it(engine: Engine) -> None:
    directory = journal_dir_for(engine)
    assert directory is not None
    directory.mkdir(parents=True, exist_ok=True)
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        theirs = directory / f"{live.pid}.jsonl"
        line = {
            "at": "2030-01-01T00:00:00+00:00",
            "account": "a",
            "role": None,
            "action": "read",
            "resource": "/theirs",
            "parameters": {},
            "records": None,
            "address": None,
        }
        theirs.write_text(json.dumps(line) + "\n")
        log = AuditLog(engine)
        assert log.pending() == 0 and theirs.exists() and read_audit(engine) == []
        log.close()
    finally:
        live.kill()
        live.wait()


def test_postgres_or_memory_stores_have_no_journal() -> None:
    assert journal_dir_for(make_engine("sqlite:///:memory:")) is None
