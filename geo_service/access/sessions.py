"""Browser log-in sessions: the cookie carries an opaque token, never the API key.

``/login`` checks the key once and starts a session: a random token (256 bits) whose
SHA-256 alone is stored (:class:`~geo_service.store.models.LoginSession`), with its
account and an expiry :data:`SESSION_TTL` ahead. :func:`geo_service.access.authenticate`
with ``session=True`` finds the account of a live session. A session ends when it
expires, when ``/logout`` revokes it (:func:`end_session`) or when its account is
disabled (:func:`geo_service.access.disable_account` revokes them all); a revoked
session stops working at once in the process that revoked it, in others within the
key cache's 5 s.
"""

from __future__ import annotations

import datetime as dt
import secrets

from sqlalchemy import Engine, delete, insert, select, update

from geo_service.access.policy import Caller, forget_cached_credentials, hash_key
from geo_service.core.errors import AuthenticationRequiredError
from geo_service.store.models import Account, LoginSession

#: How long a session lasts (the cookie's max-age too).
SESSION_TTL = dt.timedelta(hours=12)
#: Sessions that ended longer ago than this are deleted when a new one starts.
KEEP_ENDED = dt.timedelta(days=30)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def start_session(engine: Engine, caller: Caller) -> str:
    """A new session of ``caller``'s account (authenticated by its key); its token, shown
    to the browser only (the store keeps its hash)."""
    token = secrets.token_urlsafe(32)
    now = _now()
    with engine.begin() as conn:
        account_id = conn.execute(
            select(Account.id).where(Account.name == caller.name, Account.active.is_(True))
        ).scalar()
        if account_id is None:
            raise AuthenticationRequiredError("the account is unknown or disabled")
        conn.execute(delete(LoginSession).where(LoginSession.expires_at < now - KEEP_ENDED))
        conn.execute(
            insert(LoginSession).values(
                token_hash=hash_key(token),
                account_id=account_id,
                created_at=now,
                expires_at=now + SESSION_TTL,
                revoked_at=None,
            )
        )
    return token


def end_session(engine: Engine, token: str | None) -> bool:
    """Revoke the session of ``token`` (``/logout``); whether a live one was revoked."""
    if not token:
        return False
    with engine.begin() as conn:
        done = conn.execute(
            update(LoginSession)
            .where(LoginSession.token_hash == hash_key(token), LoginSession.revoked_at.is_(None))
            .values(revoked_at=_now())
        )
    forget_cached_credentials()
    return bool(done.rowcount)
