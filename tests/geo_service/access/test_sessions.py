"""Browser sessions: the log-in cookie names an opaque session kept hashed in the store,
ended by logging out, by disabling the account and by time; keys are never logged."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import itertools
import json
import logging
import logging.config
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, update
from typer.testing import CliRunner

from geo_service.access.policy import add_account, disable_account, forget_cached_credentials
from geo_service.access.sessions import SESSION_TTL
from geo_service.api.app import create_app
from geo_service.cli import app as cli
from geo_service.core.log_redaction import server_log_config
from geo_service.core.settings import Settings
from geo_service.store.db import make_engine, migrate
from geo_service.store.models import LoginSession
from tests.conftest import scratch_postgres

POINTS = "/collections/cases/items?limit=1"  # 401 without an account, 200 with one
_NAMES = itertools.count()


def _url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


@pytest.fixture
def app_and_key(store: Engine) -> tuple[Any, str, str]:
    """An app over the store (both backends), a fresh account's name and key."""
    name = f"session-{next(_NAMES)}-{store.dialect.name}"
    key = add_account(store, name, "gis", "450000")
    return create_app(Settings(database_url=_url(store))), name, key


def _logged_in(app: Any, key: str) -> tuple[TestClient, str]:
    """A browser logged in with ``key``, and its session token (the cookie)."""
    browser = TestClient(app)
    answer = browser.post("/login", data={"api_key": key}, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    token = browser.cookies.get("geo_session")
    assert token
    return browser, token


def _copy(app: Any, token: str) -> TestClient:
    """Another browser holding a copy of the cookie."""
    other = TestClient(app)
    other.cookies.set("geo_session", token)
    return other


def _sessions(engine: Engine, token: str) -> list[Any]:
    digest = hashlib.sha256(token.encode()).hexdigest()
    with engine.connect() as conn:
        return list(conn.execute(select(LoginSession).where(LoginSession.token_hash == digest)))


def _utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def test_the_cookie_names_a_session_whose_token_is_stored_only_hashed(
    app_and_key: tuple[Any, str, str], store: Engine
) -> None:
    app, _, key = app_and_key
    browser, token = _logged_in(app, key)
    assert token != key and key not in token
    assert len(token) >= 43  # 256 random bits, URL-safe
    assert browser.get(POINTS).status_code == 200
    (row,) = _sessions(store, token)
    assert row.revoked_at is None
    assert _utc(row.expires_at) - _utc(row.created_at) == SESSION_TTL == dt.timedelta(hours=12)
    with store.connect() as conn:
        stored = [list(r) for r in conn.execute(select(LoginSession.__table__))]
    assert token not in json.dumps(stored, default=str)  # the token itself is nowhere
    # a second log-in is a session of its own
    _, second = _logged_in(app, key)
    assert second != token


def test_an_api_key_in_the_cookie_is_not_a_session(app_and_key: tuple[Any, str, str]) -> None:
    app, _, key = app_and_key
    assert TestClient(app).get(POINTS, headers={"X-API-Key": key}).status_code == 200
    assert _copy(app, key).get(POINTS).status_code == 401  # the old cookie: the key itself


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_logout_revokes_the_session_for_every_copy_of_the_cookie(
    app_and_key: tuple[Any, str, str], store: Engine, method: str
) -> None:
    app, _, key = app_and_key
    browser, token = _logged_in(app, key)
    stolen = _copy(app, token)
    assert stolen.get(POINTS).status_code == 200  # and now cached for a few seconds
    answer = browser.request(method, "/logout", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/"
    assert 'geo_session=""' in answer.headers["set-cookie"] or "max-age=0" in (
        answer.headers["set-cookie"].lower()
    )
    assert stolen.get(POINTS).status_code == 401  # at once, cache or not
    assert browser.get(POINTS).status_code == 401
    (row,) = _sessions(store, token)
    assert row.revoked_at is not None
    # the key itself still works, and a new log-in starts a new session
    assert TestClient(app).get(POINTS, headers={"X-API-Key": key}).status_code == 200
    again, _ = _logged_in(app, key)
    assert again.get(POINTS).status_code == 200


def test_disabling_an_account_revokes_every_session_of_it(
    app_and_key: tuple[Any, str, str], store: Engine
) -> None:
    app, name, key = app_and_key
    first, token_a = _logged_in(app, key)
    second, token_b = _logged_in(app, key)
    assert first.get(POINTS).status_code == second.get(POINTS).status_code == 200  # cached
    other_key = add_account(store, f"{name}-other", "gis", "450000")
    bystander, token_c = _logged_in(app, other_key)
    disable_account(store, name)
    assert first.get(POINTS).status_code == 401
    assert second.get(POINTS).status_code == 401
    assert all(_sessions(store, t)[0].revoked_at is not None for t in (token_a, token_b))
    assert bystander.get(POINTS).status_code == 200  # another account's session lives on
    assert _sessions(store, token_c)[0].revoked_at is None
    refused = TestClient(app).post("/login", data={"api_key": key})
    assert refused.status_code == 401 and "set-cookie" not in refused.headers


def test_users_disable_on_the_command_line_revokes_the_sessions(
    app_and_key: tuple[Any, str, str], store: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from geo_service.core.settings import get_settings

    app, name, key = app_and_key
    browser, token = _logged_in(app, key)
    assert browser.get(POINTS).status_code == 200
    monkeypatch.setenv("GEO_DATABASE_URL", _url(store))
    get_settings.cache_clear()
    try:
        done = CliRunner().invoke(cli, ["users", "disable", name])
    finally:
        get_settings.cache_clear()
    assert done.exit_code == 0, done.output
    assert _sessions(store, token)[0].revoked_at is not None
    forget_cached_credentials()  # the command ran in "another process": its cache is its own
    assert browser.get(POINTS).status_code == 401


def test_an_expired_session_is_refused_and_one_about_to_expire_is_not_cached(
    app_and_key: tuple[Any, str, str], store: Engine
) -> None:
    app, _, key = app_and_key
    browser, token = _logged_in(app, key)
    digest = hashlib.sha256(token.encode()).hexdigest()

    def expires_in(seconds: float) -> None:
        at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds)
        with store.begin() as conn:
            conn.execute(
                update(LoginSession).where(LoginSession.token_hash == digest).values(expires_at=at)
            )

    expires_in(2.0)  # within the cache's 5 s: looked up on every request
    forget_cached_credentials()
    assert browser.get(POINTS).status_code == 200
    expires_in(-1.0)  # no cache to forget: the next request looks again
    refused = browser.get(POINTS)  # as anonymous, told the session ended; the cookie cleared
    assert refused.status_code == 401 and "geo_session" not in browser.cookies
    body = refused.json()
    assert body["code"] == "authentication_required" and "session" in body["description"]


def test_old_sessions_are_deleted_when_a_new_one_starts(
    app_and_key: tuple[Any, str, str], store: Engine
) -> None:
    app, _, key = app_and_key
    _, old = _logged_in(app, key)
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=31)
    digest = hashlib.sha256(old.encode()).hexdigest()
    with store.begin() as conn:
        conn.execute(
            update(LoginSession)
            .where(LoginSession.token_hash == digest)
            .values(created_at=long_ago, expires_at=long_ago)
        )
    _logged_in(app, key)
    assert _sessions(store, old) == []


# --- keys never reach a log -----------------------------------------------------------------


def test_a_key_in_a_logged_request_line_is_redacted() -> None:
    """The request line as uvicorn's access log writes it, through the logging
    configuration `geo-service serve` gives uvicorn."""
    key = "gs_" + "k" * 43
    logging.config.dictConfig(server_log_config())
    access = logging.getLogger("uvicorn.access")
    errors = logging.getLogger("uvicorn.error")
    written = io.StringIO()
    handlers = (*access.handlers, *logging.getLogger("uvicorn").handlers, *logging.root.handlers)
    for handler in handlers:
        assert isinstance(handler, logging.StreamHandler)
        handler.setStream(written)
    # what uvicorn's protocols log for each request (uvicorn/protocols/http/h11_impl.py)
    access.info(
        '%s - "%s %s HTTP/%s" %d',
        "10.0.0.1:5000",
        "GET",
        f"/login?next=/maps/hexagons&api_key={key}",
        "1.1",
        400,
    )
    access.info(
        '%s - "%s %s HTTP/%s" %d',
        "10.0.0.1:5000",
        "GET",
        f"/collections/cases/items?token={key[3:]}&limit=5",
        "1.1",
        401,
    )
    errors.warning("Invalid request: Authorization: Bearer %s", key)
    logging.getLogger("geo_service.core.errors").error("failed on /login?api_key=%s", key)
    text = written.getvalue()
    assert key not in text and key[3:] not in text, text
    assert "/login?next=/maps/hexagons&api_key=[redacted]" in text
    assert "?token=[redacted]&limit=5" in text
    assert "Bearer [redacted]" in text
    assert "failed on /login?api_key=[redacted]" in text  # the service's own log too


# --- migration 0008 -------------------------------------------------------------------------


def _up_and_down(engine: Engine) -> tuple[bool, bool]:
    """Whether the sessions table is there at head and after a downgrade to 0007."""
    from alembic import command
    from sqlalchemy import inspect

    from geo_service.store.db import alembic_config

    migrate(engine)
    command.check(alembic_config(engine))
    at_head = "login_sessions" in inspect(engine).get_table_names()
    command.downgrade(alembic_config(engine), "0007")
    after = "login_sessions" in inspect(engine).get_table_names()
    migrate(engine)
    return at_head, after


def test_migration_0008_up_and_down_on_sqlite(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'geo.db'}")
    try:
        assert _up_and_down(engine) == (True, False)
    finally:
        engine.dispose()


@pytest.mark.postgis
def test_migration_0008_up_and_down_on_postgis(worker_id: str) -> None:
    with scratch_postgres(worker_id, "_0008") as engine:
        assert _up_and_down(engine) == (True, False)
