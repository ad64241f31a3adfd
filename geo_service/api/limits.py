"""Limits on what one request may ask: query length, body size, bbox area and request rate.

:class:`RequestLimits` and :class:`RateLimits` are pure ASGI middleware: a request
within its limits pays a few comparisons, its caller's authentication (cached, and kept
for its route) and a clock read, and nothing is buffered. Their refusals are the
service's JSON errors ``{"code", "description"}``, built here from the one error table
(:mod:`geo_service.core.errors`), since exception handlers do not run for middleware.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from geo_service.api.dependencies import caller_of
from geo_service.api.error_answers import describe, http_status_for
from geo_service.core.errors import (
    BadFilterError,
    QueryTooLongError,
    RateLimitedError,
    RequestTooLargeError,
    ServiceError,
)

if TYPE_CHECKING:
    from fastapi import FastAPI

    from geo_service.core.settings import Settings

Clock = Callable[[], float]
#: Paths counted against the tile limit (cheap, cached, many per map view); the rest
#: against the API limit.
TILE_PREFIXES = ("/tiles/", "/static/")
#: Paths never rate limited (health checks of load balancers and monitoring).
UNLIMITED_PATHS = frozenset({"/healthz"})
#: Most buckets kept per family; beyond it the least recently used is dropped.
MAX_BUCKETS = 50_000
EARTH_RADIUS_KM = 6371.0088


def error_response(exc: ServiceError, headers: dict[str, str] | None = None) -> JSONResponse:
    """The JSON error response of ``exc`` (same body and status as the app's handlers)."""
    code, description = describe(exc)
    body = {"code": code, "description": description}
    return JSONResponse(body, status_code=http_status_for(exc), headers=headers)


class RequestLimits:
    """Refuse a query string longer than ``max_query_chars`` (414) and a body larger than
    ``max_body_bytes`` (413), whether declared by Content-Length or streamed without one."""

    def __init__(self, app: ASGIApp, max_query_chars: int, max_body_bytes: int) -> None:
        self.app = app
        self.max_query_chars = max_query_chars
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        query = len(scope.get("query_string", b""))
        if query > self.max_query_chars:
            error = QueryTooLongError(
                f"the query string has {query} characters; at most {self.max_query_chars}"
            )
            await error_response(error)(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_body_bytes:
            await error_response(self._too_large(declared))(scope, receive, send)
            return
        if declared is not None:  # the server delivers no more than Content-Length
            await self.app(scope, receive, send)
            return
        await self._counted(scope, receive, send)

    def _too_large(self, declared: int | None = None) -> RequestTooLargeError:
        size = f" (Content-Length: {declared})" if declared is not None else ""
        return RequestTooLargeError(
            f"the request body is larger than {self.max_body_bytes} bytes{size}"
        )

    async def _counted(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app over a body of unknown length, counting what it reads; past the
        limit the app is told the client left, its answer is dropped, and a 413 sent."""
        seen = 0
        exceeded = started = False

        async def counted_receive() -> Message:
            nonlocal seen, exceeded
            if exceeded:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                exceeded = seen > self.max_body_bytes
                if exceeded:
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if not exceeded:
                started = started or message["type"] == "http.response.start"
                await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except Exception:
            if not exceeded:
                raise
        if exceeded and not started:
            await error_response(self._too_large())(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    """The declared body size, or None without a (readable) Content-Length."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() else None
    return None


class TokenBuckets:
    """Token buckets per identity: ``burst`` tokens each, refilled at ``per_minute / 60``
    a second; a request takes one.

    A bucket not kept is a full one, so buckets idle long enough to have refilled are
    dropped, and at most ``max_buckets`` are kept (the least recently used goes first:
    memory stays bounded whatever the number of callers). ``clock`` is seconds on a
    monotonic scale (injectable for tests).
    """

    def __init__(
        self,
        per_minute: int,
        burst: int,
        clock: Clock = time.monotonic,
        max_buckets: int = MAX_BUCKETS,
    ) -> None:
        if per_minute <= 0:
            raise ValueError("per_minute must be positive (leave the limit out to disable it)")
        self.rate_per_s = per_minute / 60.0
        self.capacity = float(max(burst, 1))
        self.clock = clock
        self.max_buckets = max_buckets
        self._refill_s = self.capacity / self.rate_per_s
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # (tokens, at)

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, identity: str) -> float:
        """Take a token for ``identity``: 0.0 when granted, else the seconds until one is."""
        now = self.clock()
        tokens, at = self._buckets.pop(identity, (self.capacity, now))
        tokens = min(self.capacity, tokens + max(0.0, now - at) * self.rate_per_s)
        wait = 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.rate_per_s
        self._buckets[identity] = (tokens - 1.0 if wait == 0.0 else tokens, now)
        self._evict(now)
        return wait

    def _evict(self, now: float) -> None:
        """Drop refilled buckets and any beyond the bound, least recently used first."""
        buckets = self._buckets
        while buckets:
            identity, (_, at) = next(iter(buckets.items()))
            if len(buckets) <= self.max_buckets and now - at < self._refill_s:
                return
            del buckets[identity]


def caller_identity(scope: Scope) -> str:
    """Whom a request is counted against: its account when its credentials authenticate
    (:func:`geo_service.api.dependencies.caller_of`, the one reading of credentials, so
    every spelling of a key and every log-in session of the account share one count);
    else its client address, an unknown, disabled or malformed key included. The client
    address is the peer's, or what a trusted proxy forwarded (``GEO_TRUSTED_PROXIES``)."""
    caller = None
    if any(name in _CREDENTIAL_HEADERS for name, _ in scope.get("headers", ())):
        try:
            caller = caller_of(HTTPConnection(scope))  # kept on the request for its route
        except (ServiceError, SQLAlchemyError):  # a wrong key; the route answers it
            caller = None
    if caller is not None and caller.authenticated:
        return f"account:{caller.name}"
    client = scope.get("client")
    return f"addr:{client[0] if client else 'unknown'}"


_CREDENTIAL_HEADERS = frozenset({b"authorization", b"x-api-key", b"cookie"})


@dataclass
class RateLimitState:
    """The buckets of a running app (None: that family is not limited)."""

    api: TokenBuckets | None
    tiles: TokenBuckets | None


class RateLimits:
    """Refuse a caller over its rate with 429 and ``Retry-After`` (whole seconds).

    Tiles and static assets (:data:`TILE_PREFIXES`) are counted in buckets of their
    own with the tile limit; everything else in the API buckets; ``/healthz`` never.
    Callers are told apart by ``identify`` (:func:`caller_identity`).
    """

    def __init__(
        self,
        app: ASGIApp,
        state: RateLimitState,
        identify: Callable[[Scope], str] = caller_identity,
    ) -> None:
        self.app = app
        self.state = state
        self.identify = identify

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            tiles = path.startswith(TILE_PREFIXES)
            buckets = self.state.tiles if tiles else self.state.api
            if buckets is not None and path not in UNLIMITED_PATHS:
                wait = buckets.take(self.identify(scope))
                if wait > 0.0:
                    retry = max(1, math.ceil(wait))
                    kind = "tile and static" if tiles else "API"
                    error = RateLimitedError(
                        f"too many {kind} requests from this account or address; "
                        f"at most {60 * buckets.rate_per_s:g} a minute: retry in {retry} s"
                    )
                    response = error_response(error, {"Retry-After": str(retry)})
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)


def _buckets(per_minute: int, burst: int, clock: Clock) -> TokenBuckets | None:
    return TokenBuckets(per_minute, burst, clock) if per_minute > 0 else None


def add_limits(app: FastAPI, settings: Settings, clock: Clock = time.monotonic) -> None:
    """Add the request and rate limits of ``settings`` to ``app``, outermost; the buckets
    are ``app.state.rate_limits`` (:class:`RateLimitState`)."""
    app.add_middleware(
        RequestLimits,
        max_query_chars=settings.max_query_chars,
        max_body_bytes=settings.max_body_bytes,
    )
    state = RateLimitState(
        api=_buckets(settings.rate_limit_per_minute, settings.rate_limit_burst, clock),
        tiles=_buckets(settings.tile_rate_limit_per_minute, settings.tile_rate_limit_burst, clock),
    )
    app.state.rate_limits = state
    app.add_middleware(RateLimits, state=state)


def bbox_area_km2(bbox: tuple[float, float, float, float]) -> float:
    """Area of a lon/lat box on the sphere (km²).

    Examples
    --------
    >>> round(bbox_area_km2((0.0, 0.0, 1.0, 1.0)))
    12364
    """
    west, south, east, north = bbox
    band = math.sin(math.radians(north)) - math.sin(math.radians(south))
    return EARTH_RADIUS_KM**2 * math.radians(east - west) * band


def check_bbox(bbox: tuple[float, float, float, float], max_km2: float) -> None:
    """Refuse (BadFilterError, a 400) a CRS84 box that is not finite, leaves the
    lon/lat ranges, or is larger than ``max_km2``."""
    west, south, east, north = bbox
    if not all(math.isfinite(v) for v in bbox):
        raise BadFilterError("bbox must be four finite numbers")
    if not (-180 <= west <= east <= 180 and -90 <= south <= north <= 90):
        raise BadFilterError("bbox must lie within longitudes −180…180 and latitudes −90…90")
    area = bbox_area_km2(bbox)
    if area > max_km2:
        raise BadFilterError(
            f"bbox covers {area:,.0f} km²; at most {max_km2:,.0f} km² (ask for a smaller area)"
        )
