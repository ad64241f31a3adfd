"""``/plans``: the inspection plan that covers the most expected findings within the days.

Accounts only (the plan names enterprises), within the account's jurisdiction, and
audited like every hand-out of enterprise records.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Engine

from geo_service.access.audit import AuditLog
from geo_service.access.policy import require_account
from geo_service.api.dependencies import (
    Caller,
    get_audit_log,
    get_caller,
    get_engine,
    scoped_filters,
)
from geo_service.builds.risk import latest_record_date
from geo_service.core.clock import china_today
from geo_service.core.filters import Filters
from geo_service.planning.plans import (
    PlanRequest,
    days_per_enterprise_of,
    plan_document,
    plan_inspections,
)
from geo_service.store.queries import data_version

router = APIRouter()
_AS_OF = "评估日 score at this day (default: the filters' end, else the latest record stored)"


@router.get("/plans", operation_id="plan", response_class=JSONResponse)
def plan(
    request: Request,
    inspector_days: float = Query(
        ..., ge=0, le=100_000, description="检查人日 inspector-days available"
    ),
    days_per_enterprise: str | None = Query(
        None,
        description="每家企业用时 days per enterprise: a number, or by category "
        "(key=1.5,special=1,general=0.5); default 1",
    ),
    as_of: dt.date | None = Query(None, description=_AS_OF),
    resolution: int = Query(7, ge=5, le=8, description="H3 resolution of the risk cells"),
    window_years: int = Query(3, ge=1, le=5, description="years of records counted"),
    areas_only: bool = Query(True, description="only enterprises in the priority areas"),
    filters: Filters = Depends(scoped_filters),
    engine: Engine = Depends(get_engine),
    caller: Caller = Depends(get_caller),
    audit_log: AuditLog = Depends(get_audit_log),
) -> JSONResponse:
    """The enterprises to inspect, and the priority areas they are in: days used, expected
    findings covered and their share of all the jurisdiction's expected findings."""
    require_account(caller, "inspection plans (they name enterprises)")
    settings = request.app.state.settings
    asked = PlanRequest(
        jurisdiction=filters.jurisdiction,
        inspector_days=inspector_days,
        days_per_enterprise=days_per_enterprise_of(days_per_enterprise),
        as_of=as_of,
        industry=filters.industry,
        resolution=resolution,
        window_years=window_years,
        areas_only=areas_only,
        weights=settings.risk_weights,
        tiers=settings.risk_tier_quantiles,
    )
    chosen, areas = plan_inspections(engine, asked, _default_as_of(engine, filters))
    doc = plan_document(
        chosen, areas, jurisdiction=filters.jurisdiction, data_version=data_version(engine)
    )
    params: dict[str, Any] = dict(request.query_params)
    audit_log.record(caller, "plan", request.url.path, params, len(doc["enterprises"]))
    return JSONResponse(doc)


def _default_as_of(engine: Engine, filters: Filters) -> dt.date:
    """The filters' last day, else the latest record in the store, else today."""
    _, end = filters.date_range()
    return end or latest_record_date(engine) or china_today()
