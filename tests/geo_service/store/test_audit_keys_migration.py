"""Revision 0011 on a store with an audit log: entries kept, keys unique from then on."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from geo_service.access.audit import AuditLog
from geo_service.access.policy import Caller, read_audit
from geo_service.store.db import alembic_config, make_engine, migrate

ENTRY = (
    "INSERT INTO audit_log (at, account, role, action, resource, parameters, records, address)"
    " VALUES ('2026-01-02 03:04:05', 'old', 'admin', 'read', '/before', '{}', 1, NULL)"
)


def test_upgrade_keeps_entries_and_keys_new_ones_uniquely(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    migrate(engine, "0010")
    with engine.begin() as conn:
        conn.execute(text(ENTRY))
    migrate(engine)
    command.check(alembic_config(engine))  # the upgraded schema is the models'
    log = AuditLog(engine)
    log.record(Caller(name="new", role="admin"), "read", "/after", {}, 2)
    log.close()
    assert [e["resource"] for e in read_audit(engine)] == ["/after", "/before"]
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT resource, entry_key FROM audit_log")).all()
    keys: dict[str, str | None] = {r.resource: r.entry_key for r in rows}
    assert keys["/before"] is None and len(keys["/after"] or "") == 32
    again = (
        "INSERT INTO audit_log (at, account, action, resource, parameters, entry_key)"
        " VALUES ('2026-01-02 03:04:06', 'new', 'read', '/again', '{}', :key)"
    )
    with pytest.raises(IntegrityError), engine.begin() as conn:  # one entry, one row
        conn.execute(text(again), {"key": keys["/after"]})
    engine.dispose()
