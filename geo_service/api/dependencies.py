"""Small typed dependencies: the store, the caller, and validated query parameters."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from fastapi import Query, Request
from sqlalchemy import Engine

from geo_service.errors import BadFilterError
from geo_service.filters import Filters

MAX_LIMIT = 10_000


def get_engine(request: Request) -> Engine:
    """The application's store."""
    engine: Engine = request.app.state.engine
    return engine


@dataclass(frozen=True)
class Caller:
    """Who is asking. The access-control issue fills in accounts and scopes; until then
    every caller is anonymous and sees everything the service holds."""

    name: str = "anonymous"


def get_caller(request: Request) -> Caller:
    """The caller of a request (one place for the access policy)."""
    return Caller()


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
    """The service-wide filters from query parameters."""
    return Filters(jurisdiction=jurisdiction, industry=industry, period=period, start=start,
                   end=end, violation_type=violation_type)  # fmt: skip
