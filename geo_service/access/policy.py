"""Who may see what: accounts and API keys, the one scoping policy, and the audit log.

Policy (DESIGN.md, "Access"):

- an account has a role and a jurisdiction (province, city or county adcode) and sees
  records of that jurisdiction and the ones below it, nothing else; asking for another
  jurisdiction is a 403;
- without credentials only the public view of aggregate layers at province level
  (:mod:`geo_service.disclosure`: a fixed lattice, perturbed counts); point records need
  an account (401);
- every hand-out of point records, and every draw, is written to the audit log.

The HTTP layer calls :func:`authenticate` once per request and :func:`scoped` on the
filters of every route; loaders give the public view where :attr:`Filters.min_count` is
set; :func:`covers` says whether an account's jurisdiction covers a division.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import threading
import time
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Engine, insert, select, update

from analytics.cell_key import NEVER_PUBLISHED
from geo_service.core.errors import (
    AuthenticationRequiredError,
    BadFilterError,
    ForbiddenError,
    NotFoundError,
)
from geo_service.core.filters import Filters
from geo_service.disclosure.lattice import check_filters as check_public_filters
from geo_service.store.models import Account, AuditEntry, Jurisdiction, LoginSession
from geo_service.store.queries import jurisdiction_level

ROLES = ("admin", "leader", "planner", "gis", "inspector")
#: The smallest count but zero that anonymous callers are ever shown (the cell-key table
#: publishes no 1 and no 2); set on their filters, it marks the public view.
PUBLIC_MIN_COUNT = max(NEVER_PUBLISHED) + 1
KEY_PREFIX = "gs_"


@dataclass(frozen=True)
class Caller:
    """Who is asking: an account (role and jurisdiction) or the anonymous public."""

    name: str = "anonymous"
    role: str | None = None
    jurisdiction: str | None = None  # adcode the account is scoped to
    address: str | None = None
    #: an anonymous caller whose browser still sent a log-in session that has ended
    #: (expired, logged out or disabled): served as anonymous, told why on a 401
    session_ended: bool = False

    @property
    def authenticated(self) -> bool:
        return self.role is not None


ANONYMOUS = Caller()


def hash_key(key: str) -> str:
    """SHA-256 of an API key (hex): what the store keeps."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_key() -> str:
    """A fresh API key: 256 random bits, URL-safe, recognisable by its prefix."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _check_jurisdiction(engine: Engine, adcode: str) -> None:
    with engine.connect() as conn:
        known = conn.execute(select(Jurisdiction.adcode).where(Jurisdiction.adcode == adcode))
        if known.first() is None:
            raise BadFilterError(f"jurisdiction {adcode} is not a loaded division")


def add_account(engine: Engine, name: str, role: str, jurisdiction: str) -> str:
    """Create an account; returns its API key (shown once: only its hash is kept)."""
    if role not in ROLES:
        raise BadFilterError(f"role {role!r}; choose from {', '.join(ROLES)}")
    _check_jurisdiction(engine, jurisdiction)
    key = new_key()
    with engine.begin() as conn:
        taken = conn.execute(select(Account.id).where(Account.name == name)).first()
        if taken is not None:
            raise BadFilterError(f"an account named {name!r} exists")
        conn.execute(
            insert(Account).values(
                name=name,
                role=role,
                jurisdiction=jurisdiction,
                key_hash=hash_key(key),
                key_prefix=key[:10],
                active=True,
                created_at=_now(),
            )
        )
    _CACHE.clear()
    return key


def list_accounts(engine: Engine) -> list[dict[str, Any]]:
    """Every account without secrets: name, role, jurisdiction, key prefix, active, created."""
    columns = (
        Account.name,
        Account.role,
        Account.jurisdiction,
        Account.key_prefix,
        Account.active,
        Account.created_at,
    )
    with engine.connect() as conn:
        rows = conn.execute(select(*columns).order_by(Account.name)).mappings().all()
    return [{**r, "active": bool(r["active"]), "created_at": _iso(r["created_at"])} for r in rows]


def disable_account(engine: Engine, name: str) -> None:
    """Disable an account and revoke its log-in sessions: its key and sessions stop working
    at once in this process (in others within the cache's 5 s)."""
    with engine.begin() as conn:
        done = conn.execute(update(Account).where(Account.name == name).values(active=False))
        if done.rowcount == 0:
            raise NotFoundError(f"no account named {name!r}")
        conn.execute(
            update(LoginSession)
            .where(
                LoginSession.account_id.in_(select(Account.id).where(Account.name == name)),
                LoginSession.revoked_at.is_(None),
            )
            .values(revoked_at=_now())
        )
    _CACHE.clear()


class _KeyCache:
    """Recently checked keys (hash → caller), so a tile does not cost a query each time."""

    def __init__(self, ttl_s: float = 5.0, max_items: int = 10_000) -> None:
        self.ttl_s, self.max_items = ttl_s, max_items
        self._items: dict[tuple[str, str], tuple[float, Caller | None]] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str]) -> tuple[bool, Caller | None]:
        with self._lock:
            hit = self._items.get(key)
        if hit is None or time.monotonic() - hit[0] > self.ttl_s:
            return False, None
        return True, hit[1]

    def put(self, key: tuple[str, str], caller: Caller | None) -> None:
        with self._lock:
            if len(self._items) >= self.max_items:
                self._items.clear()
            self._items[key] = (time.monotonic(), caller)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


_CACHE = _KeyCache()


def forget_cached_credentials() -> None:
    """Drop every cached key and session lookup, so that what was just revoked stops
    working at once in this process (other processes forget within the cache's 5 s)."""
    _CACHE.clear()


def authenticate(
    engine: Engine, key: str | None, address: str | None = None, *, session: bool = False
) -> Caller:
    """The caller a key names, or with ``session`` the caller a log-in session's token
    names (:mod:`geo_service.access.sessions`); anonymous without one; 401 for a wrong or disabled
    key and for an unknown, expired or revoked session."""
    if not key:
        return Caller(address=address)
    digest = hash_key(key)
    cache_key = (str(engine.url), f"session:{digest}" if session else digest)
    known, caller = _CACHE.get(cache_key)
    if not known:
        caller = (_session_caller if session else _key_caller)(engine, digest, cache_key)
    if caller is None:
        what = (
            "session has ended (expired, logged out or disabled)"
            if session
            else ("API key is not valid (unknown or disabled)")
        )
        raise AuthenticationRequiredError(f"the {what}")
    return replace(caller, address=address)


def _key_caller(engine: Engine, digest: str, cache_key: tuple[str, str]) -> Caller | None:
    with engine.connect() as conn:
        row = conn.execute(
            select(Account.name, Account.role, Account.jurisdiction).where(
                Account.key_hash == digest, Account.active.is_(True)
            )
        ).first()
    caller = None if row is None else Caller(row.name, row.role, row.jurisdiction)
    _CACHE.put(cache_key, caller)
    return caller


def _session_caller(engine: Engine, digest: str, cache_key: tuple[str, str]) -> Caller | None:
    """The account of a live session (not revoked, not expired, account active); cached
    only while it has longer to live than the cache keeps it."""
    now = _now()
    with engine.connect() as conn:
        row = conn.execute(
            select(Account.name, Account.role, Account.jurisdiction, LoginSession.expires_at)
            .join(Account, Account.id == LoginSession.account_id)
            .where(
                LoginSession.token_hash == digest,
                LoginSession.revoked_at.is_(None),
                LoginSession.expires_at > now,
                Account.active.is_(True),
            )
        ).first()
    if row is None:
        _CACHE.put(cache_key, None)
        return None
    expires = row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(tzinfo=dt.UTC)
    caller = Caller(row.name, row.role, row.jurisdiction)
    if (expires - now).total_seconds() > _CACHE.ttl_s:
        _CACHE.put(cache_key, caller)
    return caller


class _Divisions:
    """Division lookups the policy makes on every request, kept for a minute per store."""

    def __init__(self, ttl_s: float = 60.0) -> None:
        self.ttl_s = ttl_s
        self._items: dict[tuple[str, str, str], tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def get(self, engine: Engine, what: str, adcode: str, load: Any) -> Any:
        key = (str(engine.url), what, adcode)
        with self._lock:
            hit = self._items.get(key)
        if hit is not None and time.monotonic() - hit[0] <= self.ttl_s:
            return hit[1]
        value = load()
        with self._lock:
            self._items[key] = (time.monotonic(), value)
        return value


_DIVISIONS = _Divisions()


def _chain(engine: Engine, adcode: str) -> set[str]:
    """The adcode and every division above it."""
    chain: set[str] = _DIVISIONS.get(engine, "chain", adcode, lambda: _load_chain(engine, adcode))
    return chain


def _load_chain(engine: Engine, adcode: str) -> set[str]:
    """The adcode and every division above it."""
    with engine.connect() as conn:
        row = conn.execute(
            select(
                Jurisdiction.adcode,
                Jurisdiction.city_adcode,
                Jurisdiction.province_adcode,
                Jurisdiction.level,
            ).where(Jurisdiction.adcode == adcode)
        ).first()
    if row is None:
        raise BadFilterError(f"jurisdiction {adcode} is not a loaded division")
    return {str(c) for c in (row.adcode, row.city_adcode, row.province_adcode) if c}


def _provinces(engine: Engine) -> set[str]:
    """The provinces the store's divisions belong to."""
    provinces: set[str] = _DIVISIONS.get(engine, "provinces", "", lambda: _load_provinces(engine))
    return provinces


def _load_provinces(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        rows = conn.execute(select(Jurisdiction.province_adcode).distinct()).scalars().all()
    return {str(r) for r in rows if r}


def _level(engine: Engine, adcode: str) -> str:
    level: str = _DIVISIONS.get(engine, "level", adcode, lambda: jurisdiction_level(engine, adcode))
    return level


def scoped(engine: Engine, caller: Caller, filters: Filters) -> Filters:
    """The filters a caller may use: its own jurisdiction when none is asked for; 403 for a
    jurisdiction outside its scope. Anonymous callers keep to province level and get the
    public view (:mod:`geo_service.disclosure`: no count below :data:`PUBLIC_MIN_COUNT`
    but zero is published)."""
    if not caller.authenticated:
        check_public_filters(filters)  # the public view's fixed periods
        if filters.jurisdiction and _level(engine, filters.jurisdiction) != "province":
            raise AuthenticationRequiredError(
                "without an account only province-level aggregates are served; "
                "log in to look at a city or county"
            )
        if filters == _NO_FILTERS:  # the common case (a whole-region map): no copy to make
            return _PUBLIC
        return replace(filters, min_count=PUBLIC_MIN_COUNT)
    assert caller.jurisdiction is not None
    if filters.jurisdiction is None:
        if _provinces(engine) == {caller.jurisdiction}:  # the account covers the whole store
            return replace(filters, min_count=None)
        return replace(filters, jurisdiction=caller.jurisdiction, min_count=None)
    if caller.jurisdiction not in _chain(engine, filters.jurisdiction):
        raise ForbiddenError(
            f"jurisdiction {filters.jurisdiction} is outside this account's scope "
            f"({caller.jurisdiction})"
        )
    return replace(filters, min_count=None)


_NO_FILTERS = Filters()
_PUBLIC = Filters(min_count=PUBLIC_MIN_COUNT)


def require_account(caller: Caller, what: str = "point records") -> None:
    """401 unless the caller has an account."""
    if not caller.authenticated:
        raise AuthenticationRequiredError(f"{what} need an account (Authorization: Bearer <key>)")


def require_role(caller: Caller, *roles: str) -> None:
    """401 without an account, 403 for an account of another role."""
    require_account(caller, "this resource")
    if caller.role not in roles:
        raise ForbiddenError(f"this needs the role {' or '.join(roles)}; you are {caller.role}")


def covers(engine: Engine, caller: Caller, adcode: str | None) -> bool:
    """Whether an account's jurisdiction covers the division ``adcode`` (it or one above
    it). ``None`` stands for the whole store, which only an account of the store's one
    province covers: what no jurisdiction owns (a batch loaded from the command line,
    the command line's audit entries) is shown to those accounts alone."""
    if not caller.authenticated:
        return False
    if adcode is None:
        return _provinces(engine) == {caller.jurisdiction}
    try:
        return caller.jurisdiction in _chain(engine, adcode)
    except BadFilterError:  # a division no longer loaded: nobody below the store owns it
        return _provinces(engine) == {caller.jurisdiction}


def divisions_within(adcode: str) -> Any:
    """A query of the adcodes of ``adcode`` and every division below it."""
    j = Jurisdiction
    return select(j.adcode).where(
        (j.adcode == adcode) | (j.city_adcode == adcode) | (j.province_adcode == adcode)
    )


def read_audit(
    engine: Engine,
    *,
    reader: Caller | None = None,
    account: str | None = None,
    since: dt.datetime | None = None,
    limit: int = 1000,
) -> list[dict[str, Any]]:
    """Audit entries, newest first. A ``reader`` account gets those of the accounts within
    its jurisdiction (every entry when it covers the whole store); without one (the
    command line, which reads the store itself) every entry."""
    columns = [c for c in AuditEntry.__table__.columns if c.name not in ("id", "entry_key")]
    query = select(*columns).order_by(AuditEntry.id.desc()).limit(limit)
    if reader is not None and not covers(engine, reader, None):
        if reader.jurisdiction is None:
            return []
        within = select(Account.name).where(
            Account.jurisdiction.in_(divisions_within(reader.jurisdiction))
        )
        query = query.where(AuditEntry.account.in_(within))
    if account:
        query = query.where(AuditEntry.account == account)
    if since:
        query = query.where(AuditEntry.at >= since)
    with engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    return [{**r, "at": _iso(r["at"])} for r in rows]


def _iso(value: Any) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)
