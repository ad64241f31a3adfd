"""Security headers on every answer, and CORS only for the origins the settings name.

:class:`SecurityHeaders` is a pure ASGI middleware adding to every response:

- ``Content-Security-Policy``: everything from the service itself. The map pages are
  Folium pages, whose scripts and styles are inline blocks (the map, its layers and
  ``GeoMaps.init`` with the page's configuration), and ``/docs`` starts Swagger UI with
  an inline script, so ``script-src`` and ``style-src`` allow ``'unsafe-inline'`` but no
  other host; images may also be ``data:`` URIs (Leaflet's and Swagger UI's icons) and
  the basemap's tiles when ``GEO_BASEMAP_URL`` names one; workers (the field page's
  service worker) come from the service only;
- ``X-Frame-Options`` and ``frame-ancestors``: no page may be framed by another site;
  the maps (``/maps/``) may be framed by the service's own landing page, everything else
  by nothing;
- ``X-Content-Type-Options: nosniff`` and ``Referrer-Policy: no-referrer``.

:func:`add_security_headers` adds it outermost (the limits' 413/414/429 answers get
the headers too) and, when ``GEO_CORS_ORIGINS`` is set, Starlette's CORS middleware for
those origins only (keys in headers; cookies are not sent across origins).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from starlette.datastructures import MutableHeaders
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from fastapi import FastAPI

    from geo_service.core.settings import Settings

#: Paths that the service's own pages frame (the landing page shows /maps/heatmap).
FRAMED_PREFIXES = ("/maps/",)
#: Headers a cross-origin script may send and read (when CORS is on).
CORS_REQUEST_HEADERS = ("Authorization", "X-API-Key", "Content-Type", "If-None-Match")
CORS_EXPOSED_HEADERS = ("ETag", "Retry-After", "Content-Disposition", "Link")


def content_security_policy(basemap_url: str | None = None, *, framed: bool = False) -> str:
    """The page policy: the service's own scripts, styles, images and requests only.

    Examples
    --------
    >>> content_security_policy("https://t{s}.example.org/{z}/{x}/{y}.png").split("; ")[3]
    "img-src 'self' data: https://*.example.org"
    """
    images = " ".join(["'self'", "data:", *filter(None, [basemap_source(basemap_url)])])
    ancestors = "'self'" if framed else "'none'"
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self' 'unsafe-inline'",
            "style-src 'self' 'unsafe-inline'",
            f"img-src {images}",
            "font-src 'self' data:",
            "connect-src 'self'",
            "worker-src 'self'",  # the field page's service worker (/field/sw.js)
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            f"frame-ancestors {ancestors}",
        ]
    )


def basemap_source(url: str | None) -> str | None:
    """The CSP source of a basemap tile URL template: its origin, with a placeholder in
    the first label of the host (``t{s}.example.org``) as ``*``; ``https:`` when the
    placeholder is elsewhere; None without a URL.

    Examples
    --------
    >>> basemap_source("https://tile.example.org:8443/{z}/{x}/{y}.png")
    'https://tile.example.org:8443'
    >>> basemap_source("https://{s}.tiles.example/{z}/{x}/{y}.png")
    'https://*.tiles.example'
    """
    if not url:
        return None
    parts = urlsplit(url)
    scheme = parts.scheme or "https"
    found = re.fullmatch(r"(?P<host>[^:@/]+)(?P<port>:\d+)?", parts.netloc)
    if found is None:
        return f"{scheme}:"
    first, _, rest = found["host"].partition(".")
    if "{" in rest:
        return f"{scheme}:"
    host = (f"*.{rest}" if rest else "*") if "{" in first else found["host"]
    return f"{scheme}://{host}{found['port'] or ''}"


class SecurityHeaders:
    """Add the security headers to every HTTP response (a header the route set itself is
    kept)."""

    def __init__(self, app: ASGIApp, basemap_url: str | None = None) -> None:
        self.app = app
        self.page = self._headers(content_security_policy(basemap_url), "DENY")
        self.framed = self._headers(content_security_policy(basemap_url, framed=True), "SAMEORIGIN")

    @staticmethod
    def _headers(policy: str, frame_options: str) -> list[tuple[str, str]]:
        return [
            ("Content-Security-Policy", policy),
            ("X-Frame-Options", frame_options),
            ("X-Content-Type-Options", "nosniff"),
            ("Referrer-Policy", "no-referrer"),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        added = self.framed if path.startswith(FRAMED_PREFIXES) else self.page

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in added:
                    if name not in headers:
                        headers.append(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def add_security_headers(app: FastAPI, settings: Settings) -> None:
    """CORS for ``GEO_CORS_ORIGINS`` (none: no CORS at all), and the security headers on
    every answer; call it after the other middleware, so that these are outermost."""
    origins = settings.cors_origin_list
    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_credentials=False,
            allow_methods=["GET", "HEAD", "POST"],
            allow_headers=list(CORS_REQUEST_HEADERS),
            expose_headers=list(CORS_EXPOSED_HEADERS),
            max_age=600,
        )
    app.add_middleware(SecurityHeaders, basemap_url=settings.basemap_url)
