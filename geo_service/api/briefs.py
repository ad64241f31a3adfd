"""``GET /briefs/{jurisdiction}/{period}.pdf|.html``: the periodic enforcement briefing
(执法态势简报) of a jurisdiction, for its leadership to print.

Read like the data it sums up: accounts of the roles that read the data-quality report
(admin, leader, planner, GIS), within their jurisdiction (403 outside it); anonymous
callers get 401, as for the city and county ledgers and ``/stats/commonalities``: the
briefing holds penalty sums, execution rates, priority areas and the draw, none of which
the public view publishes. Every read is audited. A briefing made is kept per app until
the data version or the latest draw changes.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Final

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy import Engine

from geo_service.access.audit import AuditLog
from geo_service.access.policy import require_role, scoped
from geo_service.api.brief_content import BriefRequest, gather_brief
from geo_service.api.dependencies import Caller, get_audit_log, get_caller, get_engine
from geo_service.core.errors import BadFilterError
from geo_service.core.filters import Filters
from geo_service.core.paths import STATIC_DIR
from geo_service.core.settings import Settings
from geo_service.store.draws import jurisdiction_prefix, list_draws
from geo_service.store.queries import data_version
from layers.briefing import Brief, BriefFonts, brief_to_html, brief_to_pdf

router = APIRouter()

#: Roles that read a briefing (it holds the data-quality note: the report's readers).
BRIEF_ROLES: Final = ("admin", "leader", "planner", "gis")
MEDIA_TYPES: Final = {"pdf": "application/pdf", "html": "text/html; charset=utf-8"}
FONT_DIR: Final = STATIC_DIR / "vendor" / "fonts"
_CACHE_SIZE: Final = 16
_ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The briefing: a PDF (fonts embedded) or a printable page",
        "content": {
            "application/pdf": {"schema": {"type": "string", "format": "binary"}},
            "text/html": {"schema": {"type": "string"}},
        },
    }
}


@dataclass(frozen=True)
class RenderedBrief:
    """A briefing's bytes and the number of enterprises it names (the audit's count)."""

    content: bytes
    named: int


def brief_format(name: str) -> tuple[str, str]:
    """``2024-Q2.pdf`` → (``2024-Q2``, ``pdf``); a 400 in Chinese and English otherwise."""
    period, dot, fmt = name.rpartition(".")
    if not dot or fmt not in MEDIA_TYPES:
        raise BadFilterError(
            f"{name!r}：须为 时段.pdf 或 时段.html（如 2024-Q2.pdf）; "
            f"{name!r} must be PERIOD.pdf or PERIOD.html (e.g. 2024-Q2.pdf)"
        )
    return period, fmt


def render_brief(
    engine: Engine, request: BriefRequest, fmt: str, settings: Settings | None = None
) -> RenderedBrief:
    """The briefing of ``request`` as ``pdf`` or ``html`` bytes (no scoping: callers scope)."""
    brief = gather_brief(engine, request, settings)
    fonts = BriefFonts.in_directory(FONT_DIR)
    if fmt == "pdf":
        content = brief_to_pdf(brief, fonts)
    else:
        content = brief_to_html(brief, fonts).encode("utf-8")
    return RenderedBrief(content, _named(brief))


def _named(brief: Brief) -> int:
    return sum(len(area.enterprises) for area in brief.priority_areas)


class BriefCache:
    """Briefings made, by request, format, data version and latest draw (a few kept)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kept: dict[tuple[Any, ...], RenderedBrief] = {}

    def get(
        self, engine: Engine, request: BriefRequest, fmt: str, settings: Settings | None
    ) -> RenderedBrief:
        draws = list_draws(engine, [jurisdiction_prefix(request.jurisdiction)])
        key = (request, fmt, data_version(engine), draws[-1].draw_id if draws else None)
        with self._lock:
            kept = self._kept.get(key)
        if kept is not None:
            return kept
        made = render_brief(engine, request, fmt, settings)
        with self._lock:
            self._kept[key] = made
            while len(self._kept) > _CACHE_SIZE:
                self._kept.pop(next(iter(self._kept)))
        return made


_CACHE_LOCK = threading.Lock()


def _cache(request: Request) -> BriefCache:
    with _CACHE_LOCK:
        cache = getattr(request.app.state, "brief_cache", None)
        if cache is None:
            cache = request.app.state.brief_cache = BriefCache()
    assert isinstance(cache, BriefCache)
    return cache


@router.get(
    "/briefs/{jurisdiction}/{name}",
    operation_id="brief",
    response_class=Response,
    responses=_ANSWERS,
)
def brief(
    jurisdiction: str,
    name: str,
    request: Request,
    engine: Engine = Depends(get_engine),
    caller: Caller = Depends(get_caller),
    audit_log: AuditLog = Depends(get_audit_log),
) -> Response:
    """The briefing of a jurisdiction (adcode) for a period: ``name`` is ``2024-05.pdf``,
    ``2024-Q2.html``, ``2024.pdf`` …: headline figures against the period before and a year
    before, the density and hot-spot maps, what changed, problem types, commonalities and
    differences, priority areas and the latest draw, data quality and provenance, each
    figure beside the request that gives it."""
    period, fmt = brief_format(name)
    asked = BriefRequest.parse(jurisdiction, period)
    require_role(caller, *BRIEF_ROLES)
    scoped(engine, caller, Filters(jurisdiction=asked.jurisdiction))  # 403 outside
    made = _cache(request).get(engine, asked, fmt, request.app.state.settings)
    audit_log.record(
        caller,
        "brief",
        request.url.path,
        {"jurisdiction": asked.jurisdiction, "period": str(asked.period), "f": fmt},
        made.named,
    )
    filename = f"brief-{asked.jurisdiction}-{asked.period}.{fmt}"
    disposition = "attachment" if fmt == "pdf" else "inline"
    return Response(
        made.content,
        media_type=MEDIA_TYPES[fmt],
        headers={"Content-Disposition": f'{disposition}; filename="{filename}"'},
    )
