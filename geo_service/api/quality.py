"""``/quality``: the data-quality report (数据清洗) of a jurisdiction or of one ingest batch,
as JSON, a printable page (``f=html``) or a workbook (``f=xlsx``).

The jurisdiction's report is for admins, leaders, GIS staff and planners, scoped like
every other read (their own jurisdiction when none is asked for; 403 outside it). A
batch's report is for the admins who may read the batch (``/ingest/batches/{id}``: the
batch's jurisdiction lies in theirs; 404 otherwise). Both name companies: anonymous
callers get 401, and every read is written to the audit log.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy import Engine

from geo_service.access.audit import AuditLog
from geo_service.access.policy import covers, require_role, scoped
from geo_service.api.dependencies import Caller, get_audit_log, get_caller, get_engine
from geo_service.api.uploads import BatchId
from geo_service.core.errors import NotFoundError
from geo_service.core.filters import Filters
from geo_service.store.batches import read_batch
from geo_service.store.quality import batch_quality, jurisdiction_quality
from layers.quality_report import quality_json, quality_to_html, quality_to_xlsx

router = APIRouter()

#: Roles that read a jurisdiction's report (a batch's: admins alone).
QUALITY_ROLES = ("admin", "leader", "gis", "planner")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
Format = Literal["json", "html", "xlsx"]
_FORMAT = Query("json", description="json, html (a printable page) or xlsx (a workbook)")
_ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The report: JSON, a printable page or a workbook (as `f` asks)",
        "content": {
            "application/json": {"schema": {"type": "object"}},
            "text/html": {"schema": {"type": "string"}},
            XLSX: {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


def listed(report: dict[str, Any]) -> int:
    """Entries the report names (flagged records, duplicate rows and names, stale entries,
    reviews): the audit entry's count."""
    duplicates = report["duplicates"]
    return (
        len(report["credit_code_flags"]["items"])
        + len(duplicates["rows"] or [])
        + duplicates["register_names"]["entries"]
        + len(report["stale"]["items"])
        + len(report["reviews"]["items"])
    )


def _answer(report: dict[str, Any], f: str, filename: str) -> Response:
    if f == "html":
        return HTMLResponse(quality_to_html(report))
    if f == "xlsx":
        headers = {"Content-Disposition": f'attachment; filename="{filename}.xlsx"'}
        return Response(quality_to_xlsx(report), media_type=XLSX, headers=headers)
    return JSONResponse(quality_json(report))


@router.get("/quality", operation_id="quality_report", response_class=Response, responses=_ANSWERS)
def quality_report(
    request: Request,
    jurisdiction: str | None = Query(None, description="adcode (default: the account's)"),
    f: Format = _FORMAT,
    engine: Engine = Depends(get_engine),
    caller: Caller = Depends(get_caller),
    audit_log: AuditLog = Depends(get_audit_log),
) -> Response:
    """The data-quality report of the records placed in a jurisdiction: link methods,
    geocode precision, credit-code flags, rejects, duplicates, stale register entries and
    the ambiguous links to review (admins, leaders, GIS staff and planners)."""
    require_role(caller, *QUALITY_ROLES)
    filters = scoped(engine, caller, Filters(jurisdiction=jurisdiction))
    report = jurisdiction_quality(engine, filters.jurisdiction)
    audit_log.record(
        caller,
        "quality",
        request.url.path,
        {"jurisdiction": filters.jurisdiction, "f": f},
        listed(report),
    )
    return _answer(report, f, f"quality-{filters.jurisdiction or 'all'}")


@router.get(
    "/quality/batches/{batch_id}",
    operation_id="quality_batch",
    response_class=Response,
    responses=_ANSWERS,
)
def quality_batch(
    batch_id: BatchId,
    request: Request,
    f: Format = _FORMAT,
    engine: Engine = Depends(get_engine),
    caller: Caller = Depends(get_caller),
    audit_log: AuditLog = Depends(get_audit_log),
) -> Response:
    """The data-quality report of one ingest batch (admins whose jurisdiction covers the
    batch's; 404 for a batch outside it, as for one that does not exist)."""
    require_role(caller, "admin")
    batch = read_batch(engine, batch_id)
    if not covers(engine, caller, batch["jurisdiction"]):
        raise NotFoundError(f"no ingest batch {batch_id}")
    report = batch_quality(engine, batch_id)
    audit_log.record(
        caller,
        "quality",
        request.url.path,
        {"batch_id": batch_id, "f": f},
        listed(report),
    )
    return _answer(report, f, f"quality-batch-{batch_id}")
