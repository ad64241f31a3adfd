"""The enterprise file (一源一档) and the register search, for accounts only.

``/enterprises/{credit_code}`` is one register entry with every record the linkage
tied to it (cases, inspections, exceedances, complaints, projects) on one timeline,
its penalties and their execution, its risk score with the reasons, the evidence for
its "未批先建" cases and a small offline map: JSON, a printable page (``?f=html`` or
``.html``) or a workbook (``?f=xlsx`` or ``.xlsx``). ``/enterprises?q=`` finds entries
by name or credit code. Both name companies: never public (401), the enterprise must
lie in the caller's jurisdiction (403), only records within it are listed, and every
answer is written to the audit log with the number of records handed out.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy import Engine

from analytics.errors import AnalyticsError
from geo_service.access.audit import AuditLog
from geo_service.access.policy import covers, require_account, scoped
from geo_service.api.dependencies import Caller, get_audit_log, get_caller, get_engine
from geo_service.builds.exports import load_layer
from geo_service.core.errors import BadFilterError, NotFoundError, ServiceError
from geo_service.core.filters import Filters
from geo_service.store.enterprise_files import (
    division_names,
    read_linked_records,
    read_outline,
    read_register_entry,
    search_register,
)
from layers.enterprise_file import (
    document_to_html,
    document_to_xlsx,
    enterprise_document,
    outline_svg,
)
from layers.errors import LayerError

router = APIRouter()

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
#: Formats of the file: ``?f=`` or the path's suffix.
FILE_FORMATS = ("json", "html", "xlsx")
TITLE = "一源一档"
MAX_SEARCH = 100
CREDIT_CODE = Path(
    pattern=r"^[0-9A-Za-z]{1,18}$", description="统一社会信用代码 the register entry's credit code"
)
_JURISDICTION = Query(
    None, description="adcode within the account's scope: only records there are listed"
)
_FILE_ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The file: JSON, a printable page or a workbook",
        "content": {
            "application/json": {"schema": {"type": "object"}},
            "text/html": {"schema": {"type": "string"}},
            XLSX: {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


def file_href(base: str, credit_code: str) -> str:
    """The address of an enterprise's file under the service's ``base`` URL."""
    return f"{base.rstrip('/')}/enterprises/{credit_code}"


def file_link(base: str, credit_code: str) -> dict[str, str]:
    """The ``related`` link to an enterprise's file (items, search hits)."""
    return {
        "rel": "related",
        "title": TITLE,
        "href": file_href(base, credit_code),
        "type": "application/json",
    }


def _county(register: dict[str, Any]) -> str | None:
    """The finest division the register entry is placed in."""
    code = register.get("adcode") or register.get("city_adcode") or register.get("province_adcode")
    return str(code) if code else None


def _readable(
    engine: Engine, caller: Caller, credit_code: str, jurisdiction: str | None
) -> tuple[dict[str, Any], Filters]:
    """The register entry and the caller's filters, if the entry is in scope (401; 403 for a
    jurisdiction asked outside the scope; 404 for an entry unknown or outside it: whether
    another jurisdiction's register holds a code is not the caller's to learn)."""
    require_account(caller, "the enterprise file (it names a company)")
    filters = scoped(engine, caller, Filters(jurisdiction=jurisdiction))
    register = read_register_entry(engine, credit_code)
    if register is None:
        raise NotFoundError(f"no enterprise {credit_code!r} in the register")
    where = _county(register)
    if where is None or not covers(engine, caller, where):
        raise NotFoundError(
            f"no enterprise {credit_code!r} in this account's jurisdiction ({caller.jurisdiction})"
        )
    placed = {str(register[k]) for k in ("adcode", "city_adcode", "province_adcode") if register[k]}
    if filters.jurisdiction and filters.jurisdiction not in placed:
        raise NotFoundError(f"no enterprise {credit_code!r} in {filters.jurisdiction}")
    return register, filters


def _risk(request: Request, engine: Engine, register: dict[str, Any]) -> dict[str, Any]:
    """The enterprise's row of the ``risk`` layer (``unit=enterprise``) over its county, or
    why there is none (the file is still answered)."""
    county = _county(register)
    settings = request.app.state.settings
    try:
        frame, meta = load_layer(
            engine, "risk", Filters(jurisdiction=county), {"unit": "enterprise"}, settings
        )
    except (ServiceError, AnalyticsError, LayerError) as exc:
        return {
            "available": False,
            "reason": f"风险图层无法计算 the risk layer cannot be built: {exc}",
        }
    rows = frame[frame["credit_code"] == register["credit_code"]]
    if rows.empty:
        return {"available": False, "reason": "该企业未参与风险评分 not scored in its county"}
    row = rows.iloc[0]
    params = meta.get("parameters") or {}
    components = {c: _plain(row[c]) for c in frame.columns if c.startswith(("v_", "c_"))}
    return {
        "available": True,
        "jurisdiction": county,
        "score": _plain(row["score"]),
        "tier": _plain(row["tier"]),
        "expected_findings": _plain(row.get("expected_findings")),
        "reasons": json.loads(row["reasons"]) if isinstance(row["reasons"], str) else [],
        "reasons_zh": _plain(row.get("reasons_zh")),
        "last_inspected": _plain(row.get("last_inspected")),
        "as_of": str(params.get("as_of")) if params.get("as_of") else None,
        "components": components,
        "data_version": meta.get("data_version"),
    }


def _plain(value: Any) -> Any:
    """A numpy scalar as Python; NaN and NaT as None."""
    if value is None:
        return None
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    return value if isinstance(value, str | int | float | bool) else str(value)


def _document(
    request: Request, engine: Engine, register: dict[str, Any], filters: Filters
) -> dict[str, Any]:
    records = read_linked_records(engine, register["credit_code"], filters.jurisdiction)
    county = _county(register)
    names = division_names(engine, {county} if county else set())
    doc = enterprise_document(
        register, records, _risk(request, engine, register), names.get(county or "")
    )
    href = file_href(str(request.base_url), register["credit_code"])
    doc["jurisdiction"] = filters.jurisdiction
    doc["links"] = [
        {"rel": "self", "href": href, "type": "application/json", "title": TITLE},
        {"rel": "alternate", "href": href + ".html", "type": "text/html", "title": "打印页"},
        {"rel": "alternate", "href": href + ".xlsx", "type": XLSX, "title": "XLSX"},
    ]
    return doc


def _svg(engine: Engine, doc: dict[str, Any]) -> str:
    ent = doc["enterprise"]
    outline = read_outline(engine, ent.get("adcode"))
    here = (ent["lon"], ent["lat"]) if ent.get("lon") is not None else None
    dots = [
        (e["lon"], e["lat"], e["kind"])
        for e in doc["timeline"]
        if e["lon"] is not None and e["lat"] is not None
    ]
    return outline_svg(outline.geom_wkb if outline else None, here, dots)


def _answer(engine: Engine, doc: dict[str, Any], fmt: str) -> Response:
    if fmt == "html":
        return HTMLResponse(document_to_html(doc, _svg(engine, doc)))
    if fmt == "xlsx":
        name = f"enterprise-{doc['credit_code']}.xlsx"
        headers = {"Content-Disposition": f'attachment; filename="{name}"'}
        return Response(document_to_xlsx(doc), media_type=XLSX, headers=headers)
    return JSONResponse(doc)


def _file(
    request: Request,
    credit_code: str,
    fmt: str,
    jurisdiction: str | None,
    engine: Engine,
    caller: Caller,
    audit_log: AuditLog,
) -> Response:
    if fmt not in FILE_FORMATS:
        raise NotFoundError(f"no format {fmt!r} of the file; use {', '.join(FILE_FORMATS)}")
    register, filters = _readable(engine, caller, credit_code, jurisdiction)
    doc = _document(request, engine, register, filters)
    handed = 1 + len(doc["timeline"])  # the register entry and every record listed
    params = {"credit_code": credit_code, "f": fmt, **filters.as_dict()}
    audit_log.record(caller, "enterprise_file", request.url.path, params, handed)
    return _answer(engine, doc, fmt)


@router.get(
    "/enterprises/{credit_code}.{fmt}",
    operation_id="enterprise_file_format",
    response_class=Response,
    responses=_FILE_ANSWERS,
)
def enterprise_file_format(
    request: Request,
    fmt: str = Path(description="json, html or xlsx"),
    credit_code: str = CREDIT_CODE,
    jurisdiction: str | None = _JURISDICTION,
    engine: Engine = Depends(get_engine),
    caller: Caller = Depends(get_caller),
    audit_log: AuditLog = Depends(get_audit_log),
) -> Response:
    """一源一档 as ``.json``, ``.html`` (a printable page) or ``.xlsx`` (a sheet per part)."""
    return _file(request, credit_code, fmt, jurisdiction, engine, caller, audit_log)


@router.get(
    "/enterprises/{credit_code}",
    operation_id="enterprise_file",
    response_class=Response,
    responses=_FILE_ANSWERS,
)
def enterprise_file(
    request: Request,
    credit_code: str = CREDIT_CODE,
    f: str = Query("json", description="json (default), html or xlsx"),
    jurisdiction: str | None = _JURISDICTION,
    engine: Engine = Depends(get_engine),
    caller: Caller = Depends(get_caller),
    audit_log: AuditLog = Depends(get_audit_log),
) -> Response:
    """一源一档: the register entry, every linked record on one timeline, penalties and
    their execution, the risk score and its reasons, the evidence of "未批先建" cases
    and a map of the county (records within the caller's jurisdiction only)."""
    return _file(request, credit_code, f, jurisdiction, engine, caller, audit_log)


@router.get("/enterprises", operation_id="enterprise_search")
def enterprise_search(
    request: Request,
    q: str = Query(
        ...,
        min_length=1,
        max_length=100,
        description="part of the name (as written or normalised) or the credit code's start",
    ),
    jurisdiction: str | None = Query(None, description="adcode within the account's scope"),
    limit: int = Query(20, ge=1, le=MAX_SEARCH),
    offset: int = Query(0, ge=0, le=1_000_000),
    engine: Engine = Depends(get_engine),
    caller: Caller = Depends(get_caller),
    audit_log: AuditLog = Depends(get_audit_log),
) -> JSONResponse:
    """Register entries in the caller's jurisdiction by name or credit code, each with a
    link to its file; paged by ``limit`` and ``offset`` (``next``/``prev`` links)."""
    require_account(caller, "the register search (it names companies)")
    filters = scoped(engine, caller, Filters(jurisdiction=jurisdiction))
    if not q.strip():
        raise BadFilterError("q names nothing to look for")
    rows, matched = search_register(
        engine, q.strip(), filters.jurisdiction, offset=offset, limit=limit
    )
    base = str(request.base_url)
    hits = [{**_hit(r), "links": [file_link(base, r["credit_code"])]} for r in rows]
    audit_log.record(
        caller, "enterprise_search", request.url.path, dict(request.query_params), len(hits)
    )
    return JSONResponse(
        {
            "query": q,
            "jurisdiction": filters.jurisdiction,
            "numberMatched": matched,
            "numberReturned": len(hits),
            "enterprises": hits,
            "links": _page_links(request, offset, limit, matched),
        }
    )


def _hit(row: dict[str, Any]) -> dict[str, Any]:
    keys = ("credit_code", "name", "industry_code", "industry_name", "category", "address")
    return {**{k: row.get(k) for k in keys}, "adcode": row.get("adcode")}


def _page_links(request: Request, offset: int, limit: int, matched: int) -> list[dict[str, str]]:
    links = [{"rel": "self", "href": str(request.url), "type": "application/json"}]
    if offset + limit < matched:
        href = str(request.url.include_query_params(offset=offset + limit, limit=limit))
        links.append({"rel": "next", "href": href, "type": "application/json"})
    if offset > 0:
        href = str(request.url.include_query_params(offset=max(0, offset - limit), limit=limit))
        links.append({"rel": "prev", "href": href, "type": "application/json"})
    return links
