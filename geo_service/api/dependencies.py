"""Small typed dependencies: the store, the caller, and validated query parameters."""

from __future__ import annotations

import base64
import datetime as dt

from fastapi import Depends, Query, Request
from sqlalchemy import Engine

from geo_service.access import Caller, authenticate, scoped
from geo_service.audit_log import AuditLog
from geo_service.errors import BadFilterError
from geo_service.filters import Filters

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


def api_key_of(request: Request) -> str | None:
    """The API key of a request: ``Authorization: Bearer`` (or ``Basic`` with the key as the
    password, for GIS clients), ``X-API-Key`` or the session cookie set by ``/login``."""
    headers = request.headers
    header = headers.get("authorization", "")
    if not header:  # the usual anonymous map request: no parsing beyond this
        key = headers.get("x-api-key")
        return key or (request.cookies.get(SESSION_COOKIE) if "cookie" in headers else None)
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    if scheme.lower() == "basic" and token.strip():  # GIS clients: any user name, key as password
        try:
            _, _, password = base64.b64decode(token.strip()).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            return "invalid"  # a malformed credential is a wrong key, not anonymous
        return password or "invalid"
    return request.headers.get("x-api-key") or request.cookies.get(SESSION_COOKIE) or None


async def get_caller(request: Request) -> Caller:
    """The caller of a request, as a dependency of every route (async: no worker thread)."""
    return caller_of(request)


def caller_of(request: Request) -> Caller:
    """The caller of a request (the one place credentials are read): anonymous without a
    key, 401 for a wrong one. Kept on the request for the access log and rate limits."""
    state = request.scope.setdefault("state", {})  # what request.state wraps
    cached = state.get("caller")
    if isinstance(cached, Caller):
        return cached
    client = request.scope.get("client")
    address = client[0] if client else None
    caller = authenticate(request.app.state.engine, api_key_of(request), address)
    state["caller"] = caller
    return caller


def bbox_param(
    bbox: str | None = Query(None, description="minLon,minLat,maxLon,maxLat (CRS84)"),
) -> tuple[float, float, float, float] | None:
    """A validated bounding box, or None."""
    if bbox is None:
        return None
    try:
        values = [float(v) for v in bbox.split(",")]
    except ValueError:
        raise BadFilterError(f"bbox {bbox!r} is not four numbers") from None
    if len(values) != 4 or values[0] > values[2] or values[1] > values[3]:
        raise BadFilterError("bbox must be minLon,minLat,maxLon,maxLat with min ≤ max")
    return values[0], values[1], values[2], values[3]


def filters_param(
    jurisdiction: str | None = None,
    industry: str | None = None,
    period: str | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    violation_type: str | None = None,
) -> Filters:
    """The service-wide filters from query parameters, as asked (before scoping)."""
    return Filters(jurisdiction=jurisdiction, industry=industry, period=period, start=start,
                   end=end, violation_type=violation_type)  # fmt: skip


def scoped_filters(
    request: Request,
    asked: Filters = Depends(filters_param),
) -> Filters:
    """The filters of the request within what its caller may see (:func:`access.scoped`):
    every route that reads the store takes its filters from here."""
    return scoped(get_engine(request), caller_of(request), asked)
