"""An audited item page is sent only once its audit entry is committed.

The items route records its entry without waiting (``record(..., answer=...)``): when
another caller's commit is being written, the entry joins the next batch and the page
is held on the event loop by the ``audit_before_answer`` dependency until that batch is
committed. Here the other commit is held until the page either waits or has been sent:
the page's first bytes must find the entry in the store. A commit that fails must leave
the page unsent (an error instead).
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from starlette.types import Message, Receive, Scope, Send

from geo_service.access.audit import Answer, AuditLog
from geo_service.access.policy import Caller, authenticate
from geo_service.api.app import create_app
from geo_service.core.settings import Settings
from geo_service.store.models import AuditEntry
from tests.conftest import SampleStore, account_headers

PAGE = "/collections/cases/items"
ASKED = {"limit": "5", "jurisdiction": "450100"}


def _entries(engine: Engine, account: str) -> int:
    with engine.connect() as conn:
        query = select(func.count()).select_from(AuditEntry).where(AuditEntry.account == account)
        return int(conn.execute(query).scalar_one())


def test_an_audited_page_is_sent_after_its_entry_is_committed(
    sample_store: SampleStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another caller's commit is held until the page waits for its own or was sent,
    whichever comes first; when the page's first bytes go out, its entry is stored."""
    engine = sample_store.engine
    app = create_app(Settings(database_url=str(engine.url)))
    headers = account_headers(engine, "inspector", "450100")
    account = authenticate(engine, headers["Authorization"].removeprefix("Bearer ")).name
    writing = threading.Event()  # another caller's commit is being written, held
    turn = threading.Event()  # the page waits for its entry, or was sent: the commit may go
    waited: list[bool] = []
    entries_when_sent: list[int] = []

    real_landed = Answer.landed

    async def landed(self: Answer) -> None:
        waited.append(True)
        turn.set()
        await real_landed(self)

    real_insert = AuditLog._insert

    def insert(self: AuditLog, entries: list[dict[str, Any]], *args: Any, **kwargs: Any) -> None:
        writing.set()
        assert turn.wait(60)
        real_insert(self, entries, *args, **kwargs)

    monkeypatch.setattr(Answer, "landed", landed)
    monkeypatch.setattr(AuditLog, "_insert", insert)
    other = Caller(name="another-reader", role="admin")
    writer = threading.Thread(target=app.state.audit_log.record, args=(other, "read", "/", {}))
    writer.start()  # it writes its own batch, held: the page's entry joins the next
    assert writing.wait(60)

    async def spied(scope: Scope, receive: Receive, send: Send) -> None:
        async def spy(message: Message) -> None:
            if message["type"] == "http.response.start":
                entries_when_sent.append(_entries(engine, account))
                turn.set()
            await send(message)

        await app(scope, receive, spy)

    response = TestClient(spied).get(PAGE, params=ASKED, headers=headers)
    assert response.status_code == 200, response.text[:300]
    assert response.json()["numberReturned"] == 5
    assert waited == [True] and entries_when_sent == [1]
    writer.join()
    app.state.audit_log.close()


def test_an_audited_page_whose_commit_fails_is_not_sent(
    sample_store: SampleStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A commit that fails (not a busy lock) answers 500: the page read is not sent as if
    it had been logged."""
    engine = sample_store.engine
    app = create_app(Settings(database_url=str(engine.url)))
    headers = account_headers(engine, "inspector", "450100")

    def broken(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("the store went away")

    monkeypatch.setattr(AuditLog, "_insert", broken)
    response = TestClient(app, raise_server_exceptions=False).get(
        PAGE, params=ASKED, headers=headers
    )
    assert response.status_code == 500
    assert "FeatureCollection" not in response.text
    app.state.audit_log.close()
