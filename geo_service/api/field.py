"""Findings from the field: create one inspection finding (OGC API - Features Part 4)
and the phone page that queues them while there is no signal.

``POST /collections/inspections/items`` takes one GeoJSON Feature from an account that
may write findings (:data:`FINDING_ROLES`) and puts it through the ingest's own steps
(:mod:`geo_service.ingest.single`): 201 with ``Location`` and the stored feature, 400
with the reasons, 403 outside the account's jurisdiction, 409 for an id stored already.
Every attempt by an account is audited. ``GET /field`` is the page; ``/field/sw.js`` its
service worker, served under ``/field`` so that its scope covers the page.
"""

from __future__ import annotations

import functools
import hashlib
import html
import json
import re
from dataclasses import asdict
from pathlib import Path
from typing import Any
from urllib.parse import quote

import shapely
from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import Engine

from geo_service.access.audit import AuditLog
from geo_service.api import features
from geo_service.api.dependencies import (
    Caller,
    get_audit_log,
    get_caller,
    get_engine,
    scoped_filters,
)
from geo_service.api.tile_cache import tile_service
from geo_service.core.clock import china_today
from geo_service.core.errors import (
    AuthenticationRequiredError,
    ForbiddenError,
    InputFileError,
    ServiceError,
)
from geo_service.core.filters import Filters
from geo_service.core.paths import STATIC_DIR
from geo_service.ingest.readers import InputLimits
from geo_service.ingest.single import FindingOptions, StoredFinding, ingest_finding, parse_feature
from geo_service.planning.assignments import assignments, current_quarter
from geo_service.store.boundaries import read_divisions

router = APIRouter()

#: Roles that may create findings: everyone but GIS staff, who keep layers and maps and
#: load records through an admin's file ingest, not from the field.
FINDING_ROLES = ("inspector", "admin", "leader", "planner")
GEOJSON = "application/geo+json"
#: Media types a finding may be sent as.
FINDING_TYPES = (GEOJSON, "application/json")
#: No OGC API - Features Part 4 conformance class is declared: the draft's only class
#: with creation, "create-replace-delete", requires PUT and DELETE on items too, which
#: this service does not offer. The POST follows that class's create requirements.
#: Where the page's service worker is served, and the scope it may take.
WORKER_PATH, WORKER_SCOPE = "/field/sw.js", "/field"
QUARTER = Query(None, pattern=r"^[0-9]{4}-Q[1-4]$", description="the quarter, e.g. 2026-Q4")

_FEATURE = {"schema": {"$ref": "#/components/schemas/Feature"}}
_ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
_FEATURE_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "one inspection finding as a GeoJSON Feature (CRS84 point)",
        "content": {m: _FEATURE for m in FINDING_TYPES},
    },
    "responses": {
        "201": {
            "description": "Stored: the feature as its item answers it",
            "headers": {"Location": {"description": "the new item", "schema": {"type": "string"}}},
            "content": {GEOJSON: _FEATURE},
        },
        "400": {"description": "Refused by the ingest's checks (the reasons)", "content": _ERROR},
        "403": {
            "description": "Not a role that writes, or outside the jurisdiction",
            "content": _ERROR,
        },
        "409": {"description": "A record with this id is stored; unchanged", "content": _ERROR},
    },
}


@router.post(
    "/collections/inspections/items",
    operation_id="finding_create",
    status_code=201,
    response_class=Response,
    openapi_extra=_FEATURE_BODY,
)
async def finding_create(
    request: Request,
    engine: Engine = Depends(get_engine),
    caller: Caller = Depends(get_caller),
    audit_log: AuditLog = Depends(get_audit_log),
) -> Response:
    """Create one inspection finding (inspector, admin, leader, planner) within the
    account's jurisdiction: 201 with ``Location`` and the stored feature."""
    if not caller.authenticated:
        _require_writer(caller)  # 401: no account to audit
    assert caller.jurisdiction is not None
    limits = InputLimits.from_settings(request.app.state.settings)
    options = FindingOptions(account=caller.name, within=caller.jurisdiction, limits=limits)
    finding_id: Any = None
    try:
        _require_writer(caller)
        body = await _feature_body(request)
        finding_id = body.get("id") if isinstance(body, dict) else None
        finding = parse_feature(body, limits)
        finding_id = finding.inspection_id
        stored = await run_in_threadpool(ingest_finding, engine, finding, options)
    except ServiceError as exc:  # refused: audited with the reason, nothing stored
        await run_in_threadpool(
            audit_log.record, caller, "finding", request.url.path, _refusal(finding_id, exc), 0
        )
        raise
    tile_service(request).refresh()  # the tiles of this process show it at once
    await run_in_threadpool(
        audit_log.record, caller, "finding", request.url.path, _created(stored), 1
    )
    return await run_in_threadpool(_stored_feature, request, engine, caller, audit_log, stored)


def _require_writer(caller: Caller) -> None:
    """401 without an account; 403 for a role that does not write findings."""
    if not caller.authenticated:
        raise AuthenticationRequiredError(
            "提交现场检查发现需要登录 (findings need an account: log in at /login, or send "
            "Authorization: Bearer <key>)"
        )
    if caller.role not in FINDING_ROLES:
        raise ForbiddenError(
            f"{caller.role} 账号不能提交现场检查发现；可提交的角色：{'、'.join(FINDING_ROLES)} "
            f"(a {caller.role} account does not create findings; "
            f"{', '.join(FINDING_ROLES)} do)"
        )


async def _feature_body(request: Request) -> Any:
    """The request body as JSON (a GeoJSON or JSON media type); 400 otherwise."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in FINDING_TYPES:
        raise InputFileError(
            f"请以 {GEOJSON} 发送 GeoJSON Feature (send the finding as {GEOJSON}, got "
            f"{media or 'no content type'})"
        )
    try:
        return json.loads(await request.body())
    except (ValueError, UnicodeDecodeError):
        raise InputFileError("请求体不是 JSON (the body is not JSON)") from None


def _refusal(finding_id: Any, exc: ServiceError) -> dict[str, Any]:
    return {
        "inspection_id": None if finding_id is None else str(finding_id)[:100],
        "outcome": exc.code,
        "reason": str(exc)[:500],
    }


def _created(stored: StoredFinding) -> dict[str, Any]:
    return {**asdict(stored), "outcome": "created"}


def _stored_feature(
    request: Request, engine: Engine, caller: Caller, audit_log: AuditLog, stored: StoredFinding
) -> Response:
    """The finding as ``/collections/inspections/items/{id}`` answers it, with 201 and its
    ``Location``."""
    fid = stored.inspection_id
    filters = Filters(jurisdiction=caller.jurisdiction)
    answer = features.item("inspections", fid, request, filters, None, engine, caller, audit_log)
    base = str(request.base_url).rstrip("/")
    location = f"{base}/collections/inspections/items/{quote(fid, safe='')}"
    headers = {"Location": location, "Content-Crs": answer.headers.get("content-crs", "")}
    return Response(answer.body, status_code=201, media_type=GEOJSON, headers=headers)


@router.get("/field", operation_id="field_page", response_class=HTMLResponse)
def field_page(
    request: Request,
    quarter: str | None = QUARTER,
    filters: Filters = Depends(scoped_filters),
    engine: Engine = Depends(get_engine),
    caller: Caller = Depends(get_caller),
    audit_log: AuditLog = Depends(get_audit_log),
) -> HTMLResponse:
    """The phone page: this quarter's drawn enterprises on a map with their files, the
    phone's position, the finding form and the queue of findings waiting for signal."""
    _require_writer(caller)
    quarter = quarter or current_quarter()
    where = filters.jurisdiction or caller.jurisdiction
    drawn = assignments(engine, where, quarter, caller.name)
    audit_log.record(
        caller, "field_page", "/field", {"jurisdiction": where, "quarter": quarter}, len(drawn)
    )
    data = {
        "account": caller.name,
        "role": caller.role,
        "jurisdiction": where,
        "quarter": quarter,
        "today": china_today(),
        "post": "/collections/inspections/items",
        "worker": WORKER_PATH,
        "scope": WORKER_SCOPE,
        "basemap": request.app.state.settings.basemap_url,
        "outline": _outline(engine, where),
        "enterprises": [
            {**asdict(a), "file": f"/enterprises/{quote(a.credit_code, safe='')}?f=html"}
            for a in drawn
        ],
    }
    return HTMLResponse(field_html(data), headers={"Cache-Control": "no-cache"})


def _outline(engine: Engine, adcode: str | None) -> dict[str, Any] | None:
    """The jurisdiction's outline as GeoJSON, simplified for a phone."""
    table = read_divisions(engine).table
    if adcode is None or adcode not in table.index:
        return None
    shape = shapely.simplify(table.loc[adcode].geometry, 0.002, preserve_topology=True)
    geometry: dict[str, Any] = shapely.geometry.mapping(shape)
    return geometry


def field_html(data: dict[str, Any]) -> str:
    """The page: its data as a JSON block (no inline script runs), everything else from
    ``/static/field/`` and the vendored Leaflet."""
    block = json.dumps(data, ensure_ascii=False, default=str).replace("<", "\\u003c")
    title = f"现场检查 · {html.escape(str(data['jurisdiction']))} · {html.escape(data['quarter'])}"
    return _PAGE.format(title=title, data=block, account=html.escape(data["account"]))


_PAGE = """<!DOCTYPE html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1, viewport-fit=cover">
<title>{title}</title>
<link rel="icon" href="/static/maps/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/static/vendor/leaflet/leaflet.css">
<link rel="stylesheet" href="/static/field/field.css">
</head>
<body>
<header class="field-bar">
  <h1>现场检查 <small>Field findings</small></h1>
  <span id="field-signal" class="field-signal" data-online="unknown">…</span>
  <span class="field-account">{account}</span>
</header>
<main>
  <section class="field-map-box">
    <div id="field-map" role="application" aria-label="本季度抽查企业地图"></div>
    <p id="field-position" class="field-position" data-state="waiting">正在获取位置… (locating)</p>
  </section>
  <section>
    <h2>本季度抽查企业 <small>Drawn enterprises</small></h2>
    <ul id="field-enterprises" class="field-list"></ul>
  </section>
  <section>
    <h2>记录发现 <small>New finding</small></h2>
    <form id="field-form" class="field-form" autocomplete="off">
      <label>企业 Enterprise
        <select name="enterprise" id="field-enterprise">
          <option value="">（未选择）</option>
        </select>
      </label>
      <label>检查日期 Date <input type="date" name="inspection_date" required></label>
      <label>问题类别 Type
        <input name="problem_category" list="field-categories" maxlength="100">
        <datalist id="field-categories">
          <option value="废水"><option value="废气"><option value="固体废物">
          <option value="噪声"><option value="扬尘"><option value="环评手续">
          <option value="排污许可"><option value="在线监测">
        </datalist>
      </label>
      <fieldset class="field-yesno"><legend>是否发现问题 Problem found</legend>
        <label><input type="radio" name="problem_found" value="是"> 是 yes</label>
        <label><input type="radio" name="problem_found" value="否" checked> 否 no</label>
      </fieldset>
      <label>检查情况 Description <textarea name="description" rows="3" required></textarea></label>
      <label>处理措施 Measures <textarea name="measures" rows="2"></textarea></label>
      <label>执法人员 Inspectors <input name="inspectors" maxlength="200"></label>
      <label class="field-check"><input type="checkbox" name="use_position" checked>
        使用当前位置 use my position</label>
      <button type="submit">保存并发送 Save and send</button>
    </form>
  </section>
  <section>
    <h2>待发送队列 <small>Queue</small></h2>
    <p class="field-note">无信号时发现保存在本机，有信号时自动发送；被拒绝的发现保留并注明原因。
      (Kept on this phone without signal, sent when there is; refused ones stay with
      the reason.)</p>
    <button type="button" id="field-send">立即发送 Send now</button>
    <button type="button" id="field-clear">清除已发送 Clear sent</button>
    <ul id="field-queue" class="field-queue" aria-live="polite"></ul>
  </section>
</main>
<script type="application/json" id="field-data">{data}</script>
<script src="/static/vendor/leaflet/leaflet.js"></script>
<script src="/static/field/queue.js"></script>
<script src="/static/field/field.js"></script>
</body>
</html>
"""


@router.get(WORKER_PATH, include_in_schema=False)
def field_worker() -> Response:
    """The page's service worker: under ``/field`` and allowed the scope ``/field``, its
    cache named after what it keeps (:func:`worker_script`)."""
    headers = {"Service-Worker-Allowed": WORKER_SCOPE, "Cache-Control": "no-cache"}
    return Response(worker_script(STATIC_DIR), media_type="text/javascript", headers=headers)


#: The cache name the worker's file is written with; served as ``geo-field-<digest>``.
_WORKER_CACHE = b'"geo-field-v1"'
_SHELL_FILE = re.compile(rb'"/static/([^"]+)"')


@functools.cache
def worker_script(static: Path) -> bytes:
    """sw.js with its cache named by a digest of the static files it keeps (its SHELL
    list): a phone keeps those files and serves them before the network, so a new
    field.js reaches it only with a new worker, which a changed name makes. The old
    cache is deleted when the new worker takes over."""
    script = (static / "field" / "sw.js").read_bytes()
    digest = hashlib.sha256()
    for name in _SHELL_FILE.findall(script):
        digest.update(name + b"\0" + (static / name.decode()).read_bytes())
    named = f'"geo-field-{digest.hexdigest()[:12]}"'.encode()
    if script.count(_WORKER_CACHE) != 1:
        raise RuntimeError("sw.js names its cache once, as geo-field-v1")
    return script.replace(_WORKER_CACHE, named)
