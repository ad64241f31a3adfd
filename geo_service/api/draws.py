"""The double-random inspection draw (双随机) over HTTP: make one, list them, read one.

Admins, planners and leaders make draws for their jurisdiction or one below it;
every account may read the draws of its jurisdiction and below (an inspector reads
the draw that sends it out, but does not make it). Every draw made and every record
read is written to the audit log.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine

from geo_service.access.audit import AuditLog
from geo_service.access.policy import require_account, require_role, scoped
from geo_service.api.dependencies import Caller, get_audit_log, get_caller, get_engine
from geo_service.core.errors import NotFoundError, UnknownLayerError
from geo_service.core.filters import Filters
from geo_service.planning.draws import draw_id_for, jurisdiction_name, make_draw
from geo_service.store.draws import StoredDraw, jurisdiction_prefix, list_draws, read_draw
from layers.draw_records import draw_to_html, draw_to_xlsx

router = APIRouter()

#: Roles that may make a draw (every account may read the draws in its scope).
DRAW_ROLES = ("admin", "planner", "leader")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
#: A draw id: letters, digits, ``_`` and ``-`` (those made here are 16 hex digits).
DRAW_ID = Path(pattern=r"^[0-9A-Za-z_-]{1,64}$", description="the draw's id")
#: Files of a draw: ``/draws/{id}.{fmt}``.
DRAW_FILES = ("json", "xlsx", "html")


class DrawRequest(BaseModel):
    """A draw to make: where, for which quarter, with which seed (and its commitment)."""

    model_config = ConfigDict(extra="forbid")

    jurisdiction: str = Field(pattern=r"^[0-9]{6}$", description="adcode of the jurisdiction")
    quarter: str = Field(pattern=r"^[0-9]{4}-Q[1-4]$", description="the quarter, e.g. 2025-Q1")
    seed: str = Field(min_length=1, max_length=128, description="the revealed seed")
    commitment: str | None = Field(
        None,
        pattern=r"^[0-9a-fA-F]{64}$",
        description="SHA-256 published before the draw; a seed that does not match is refused",
    )


def _summary(stored: StoredDraw) -> dict[str, Any]:
    base = f"/draws/{stored.draw_id}"
    return {
        "draw_id": stored.draw_id,
        "jurisdiction": stored.jurisdiction,
        "quarter": stored.quarter,
        "created_at": stored.created_at.isoformat(),
        "created_by": stored.created_by,
        "data_version": stored.data_version,
        "seed_commitment": stored.seed_commitment,
        "record_digest": stored.record_digest,
        "links": [
            {"rel": "self", "href": base, "type": "application/json"},
            {
                "rel": "alternate",
                "href": base + ".json",
                "type": "application/json",
                "title": "the record's canonical bytes (record_digest is their SHA-256)",
            },
            {"rel": "alternate", "href": base + ".xlsx", "type": XLSX, "title": "抽查结果 XLSX"},
            {
                "rel": "alternate",
                "href": base + ".html",
                "type": "text/html",
                "title": "抽查结果 打印页",
            },
        ],
    }


def _readable(engine: Engine, caller: Caller, draw_id: str) -> StoredDraw:
    """The stored draw, if the caller's scope holds its jurisdiction (401, 403, 404)."""
    require_account(caller, "draws")
    stored = read_draw(engine, draw_id)
    if stored is None:
        raise NotFoundError(f"no draw {draw_id!r}")
    scoped(engine, caller, Filters(jurisdiction=stored.jurisdiction))
    return stored


@router.post("/draws", operation_id="draw_create", status_code=201)
def draw_create(
    body: DrawRequest,
    request: Request,
    engine: Engine = Depends(get_engine),
    caller: Caller = Depends(get_caller),
    audit_log: AuditLog = Depends(get_audit_log),
) -> JSONResponse:
    """Make the quarter's draw (admin, planner, leader): 201 with the record, or 200 with
    the stored one when this jurisdiction, quarter and seed were drawn before."""
    require_role(caller, *DRAW_ROLES)
    scoped(engine, caller, Filters(jurisdiction=body.jurisdiction))
    drawn_before = read_draw(engine, draw_id_for(body.jurisdiction, body.quarter, body.seed))
    stored = make_draw(
        engine,
        jurisdiction=body.jurisdiction,
        quarter=body.quarter,
        seed=body.seed,
        settings=request.app.state.settings,
        created_by=caller.name,
        commitment=body.commitment,
    )
    record = json.loads(stored.record_json)
    audit_log.record(
        caller,
        "draw",
        f"/draws/{stored.draw_id}",
        {
            "jurisdiction": body.jurisdiction,
            "quarter": body.quarter,
            "seed_commitment": stored.seed_commitment,
            "record_digest": stored.record_digest,
            "drawn_before": drawn_before is not None,
        },
        len(record["selected"]),
    )
    answer = _summary(stored) | {"record": record}
    return JSONResponse(answer, status_code=200 if drawn_before is not None else 201)


@router.get("/draws", operation_id="draw_list")
def draw_list(
    jurisdiction: str | None = None,
    engine: Engine = Depends(get_engine),
    caller: Caller = Depends(get_caller),
    audit_log: AuditLog = Depends(get_audit_log),
) -> dict[str, Any]:
    """The draws of the caller's jurisdiction and below (or of ``jurisdiction`` within it)."""
    require_account(caller, "draws")
    filters = scoped(engine, caller, Filters(jurisdiction=jurisdiction))
    prefixes = [jurisdiction_prefix(filters.jurisdiction)] if filters.jurisdiction else None
    draws = [_summary(d) for d in list_draws(engine, prefixes)]
    audit_log.record(caller, "draw_list", "/draws", filters.as_dict(), len(draws))
    return {"draws": draws}


@router.get("/draws/{draw_id}.{fmt}", operation_id="draw_file", response_class=Response)
def draw_file(
    fmt: str,
    draw_id: str = DRAW_ID,
    engine: Engine = Depends(get_engine),
    caller: Caller = Depends(get_caller),
    audit_log: AuditLog = Depends(get_audit_log),
) -> Response:
    """The record as stored (``json``: its canonical bytes), a workbook (``xlsx``) or a
    printable page (``html``)."""
    if fmt not in DRAW_FILES:
        raise UnknownLayerError(f"no draw format {fmt!r}; use {', '.join(DRAW_FILES)}")
    stored = _readable(engine, caller, draw_id)
    audit_log.record(caller, "draw_read", f"/draws/{draw_id}.{fmt}", {"draw_id": draw_id})
    if fmt == "json":
        return Response(stored.record_json.encode("utf-8"), media_type="application/json")
    record, name = json.loads(stored.record_json), jurisdiction_name(engine, stored.jurisdiction)
    if fmt == "html":
        return HTMLResponse(draw_to_html(record, name))
    filename = f"draw-{stored.jurisdiction}-{stored.quarter}-{draw_id}.xlsx"
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    return Response(draw_to_xlsx(record, name), media_type=XLSX, headers=headers)


@router.get("/draws/{draw_id}", operation_id="draw_read")
def draw_read(
    draw_id: str = DRAW_ID,
    engine: Engine = Depends(get_engine),
    caller: Caller = Depends(get_caller),
    audit_log: AuditLog = Depends(get_audit_log),
) -> dict[str, Any]:
    """One stored draw: who made it, when, for what, and its record."""
    stored = _readable(engine, caller, draw_id)
    audit_log.record(caller, "draw_read", f"/draws/{draw_id}", {"draw_id": draw_id})
    return _summary(stored) | {"record": json.loads(stored.record_json)}
