"""Is a page offline? The references of an HTML page to anything outside the service."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from jinja2.utils import htmlsafe_json_dumps

_EXTERNAL = re.compile(r"""(?:https?:)?//[^\s"'<>()\\]+""", re.IGNORECASE)
_REFERENCE = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']|url\(\s*["']?([^"')]+)""")


class OfflineError(RuntimeError):
    """A page would reach beyond the service (a CDN, an external tile server).

    Not a ValueError: such a page is a fault of the service, never of the request.
    """


def external_references(html: str, allowed: Sequence[str] = ()) -> list[str]:
    """Every ``http(s)://`` or protocol-relative reference in ``html`` not in ``allowed``.

    Examples
    --------
    >>> external_references('<script src="https://cdn.example/x.js"></script><a href="/x">')
    ['https://cdn.example/x.js']
    """
    for url in allowed:  # as written in the page: raw, or in JSON escaped for a <script>
        for form in (url, json.dumps(url)[1:-1], str(htmlsafe_json_dumps(url))[1:-1]):
            html = html.replace(form, "")
    return [m.group(0) for m in _EXTERNAL.finditer(html)]


def check_offline(html: str, basemap_url: str | None = None) -> None:
    """Raise :class:`OfflineError` if ``html`` references anything outside the service."""
    found = external_references(html, [basemap_url] if basemap_url else [])
    if found:
        raise OfflineError(f"the page would load from outside the service: {found[:5]}")


def local_references(html: str) -> list[str]:
    """The ``src``/``href``/``url()`` references of a page that point into the service."""
    refs = [a or b for a, b in _REFERENCE.findall(html)]
    return sorted({r for r in refs if r.startswith("/") and not r.startswith("//")})
