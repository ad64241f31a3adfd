"""Small typed dependencies: the store, the caller, and validated query parameters."""

from __future__ import annotations

import base64
import datetime as dt
import inspect
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from fastapi import Depends, Query, Request
from sqlalchemy import Engine
from starlette.requests import HTTPConnection

from geo_service.access.audit import AuditLog
from geo_service.access.policy import Caller, authenticate, scoped
from geo_service.builds.registry import ANALYTIC_LAYERS, parameter_docs
from geo_service.core.errors import AuthenticationRequiredError, BadFilterError
from geo_service.core.filters import FILTER_FIELDS, Filters

MAX_LIMIT = 10_000


def get_audit_log(request: Request) -> AuditLog:
    """The application's audit-log writer."""
    log: AuditLog = request.app.state.audit_log
    return log


def get_engine(request: Request) -> Engine:
    """The application's store."""
    engine: Engine = request.app.state.engine
    return engine


SESSION_COOKIE = "geo_session"
#: What a malformed credential is read as: a key no account has (a 401, not anonymous).
INVALID_KEY = "invalid"


@dataclass(frozen=True)
class Credentials:
    """What a request presents: an API key, or the token of a log-in session."""

    secret: str
    session: bool = False  # the session cookie set by /login (never an API key)


def credentials_of(request: HTTPConnection) -> Credentials | None:
    """The credentials of a request (the one place they are parsed: authentication and
    the rate limits both read them here): ``Authorization: Bearer <key>`` (or ``Basic``
    with the key as the password, for GIS clients), else ``X-API-Key``, else the session
    cookie set by ``/login``; None without any."""
    headers = request.headers
    header = headers.get("authorization", "")
    if header:
        scheme, _, token = header.strip().partition(" ")
        token = token.strip()
        if scheme.lower() == "bearer" and token:
            return Credentials(token)
        if scheme.lower() == "basic" and token:  # GIS clients: any user name, key as password
            return Credentials(_basic_password(token))
    key = headers.get("x-api-key", "").strip()
    if key:
        return Credentials(key)
    session = request.cookies.get(SESSION_COOKIE) if "cookie" in headers else None
    return Credentials(session, session=True) if session else None


def _basic_password(token: str) -> str:
    """The password of Basic credentials; strictly decoded, so that no other spelling of
    the same credentials (junk characters the lenient decoder skips) is accepted."""
    try:
        decoded = base64.b64decode(token, validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):  # binascii.Error is a ValueError
        return INVALID_KEY  # a malformed credential is a wrong key, not anonymous
    _, colon, password = decoded.partition(":")
    return password if colon and password else INVALID_KEY


async def get_caller(request: Request) -> Caller:
    """The caller of a request, as a dependency of every route (async: no worker thread)."""
    return caller_of(request)


def known_caller(request: HTTPConnection) -> Caller | None:
    """The caller :func:`caller_of` found for this request, if it has been asked (an
    error answer reads it without checking credentials again)."""
    cached = request.scope.get("state", {}).get("caller")
    return cached if isinstance(cached, Caller) else None


def caller_of(request: HTTPConnection) -> Caller:
    """The caller of a request (the one place credentials are checked): anonymous without
    any, 401 for a wrong key. A log-in session that has ended (expired, logged out, its
    account disabled) is a visitor's browser with a stale cookie: anonymous, marked
    :attr:`~Caller.session_ended` so that a 401 says the session ended. Kept on the
    request for the access log and rate limits
    (:func:`geo_service.api.limits.caller_identity` calls this first)."""
    state = request.scope.setdefault("state", {})  # what request.state wraps
    cached = known_caller(request)
    if cached is not None:
        return cached
    client = request.scope.get("client")
    address = client[0] if client else None
    credentials = credentials_of(request)
    if credentials is None:
        caller = Caller(address=address)
    else:
        engine = request.app.state.engine
        try:
            caller = authenticate(engine, credentials.secret, address, session=credentials.session)
        except AuthenticationRequiredError:
            if not credentials.session:
                raise  # a wrong key is a mistake to report, never served as anonymous
            caller = Caller(address=address, session_ended=True)
    state["caller"] = caller
    return caller


async def bbox_param(
    bbox: str | None = Query(None, description="minLon,minLat,maxLon,maxLat (CRS84)"),
) -> tuple[float, float, float, float] | None:
    """A validated bounding box, or None (async: parsing alone, no worker thread to hop to)."""
    if bbox is None:
        return None
    try:
        values = [float(v) for v in bbox.split(",")]
    except ValueError:
        raise BadFilterError(f"bbox {bbox!r} is not four numbers") from None
    if len(values) != 4 or values[0] > values[2] or values[1] > values[3]:
        raise BadFilterError("bbox must be minLon,minLat,maxLon,maxLat with min ≤ max")
    return values[0], values[1], values[2], values[3]


async def filters_param(**asked: Any) -> Filters:
    """The service-wide filters from query parameters, as asked (before scoping). Its
    signature, which FastAPI reads, is made from the one list of filters
    (:data:`~geo_service.core.filters.FILTER_FIELDS`). Async: parsing alone, no worker
    thread to hop to."""
    return Filters(**{k: v for k, v in asked.items() if v is not None})


filters_param.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
    [
        inspect.Parameter(
            name,
            inspect.Parameter.KEYWORD_ONLY,
            default=Query(None, description=description),
            annotation=(dt.date | None) if name in ("start", "end") else (str | None),
        )
        for name, description in FILTER_FIELDS.items()
    ],
    return_annotation=Filters,
)


async def scoped_filters(
    request: Request,
    asked: Filters = Depends(filters_param),
) -> Filters:
    """The filters of the request within what its caller may see (:func:`access.scoped`):
    every route that reads the store takes its filters from here. Async, as
    :func:`get_caller`: the divisions it looks up are kept a minute, so it reads the store
    once a minute at most, and no worker thread is hopped to on every request."""
    return scoped(get_engine(request), caller_of(request), asked)


def query_doc(name: str, description: str, kind: str = "string") -> dict[str, Any]:
    """The OpenAPI entry of an optional query parameter a route reads by hand."""
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": {"type": kind},
    }


def layer_parameter_docs(layers: Collection[str] = ANALYTIC_LAYERS) -> list[dict[str, Any]]:
    """OpenAPI entries of the layers' parameters, each with the layers' bounds."""
    return [query_doc(name, text) for name, text in parameter_docs(layers).items()]
