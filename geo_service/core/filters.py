"""The filters every command and endpoint accepts: jurisdiction, industry, period, type."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from geo_service.core.errors import BadFilterError

_PERIOD = re.compile(r"^(\d{4})(?:-(Q[1-4]|\d{2}))?$", re.IGNORECASE)


def period_bounds(period: str) -> tuple[dt.date, dt.date]:
    """First and last day of ``2024``, ``2024-Q2`` or ``2024-05``.

    Examples
    --------
    >>> period_bounds("2024-Q2")
    (datetime.date(2024, 4, 1), datetime.date(2024, 6, 30))
    >>> period_bounds("2024-02")
    (datetime.date(2024, 2, 1), datetime.date(2024, 2, 29))
    """
    match = _PERIOD.match(period.strip())
    if not match:
        raise BadFilterError(f"period {period!r} is not YYYY, YYYY-Qn or YYYY-MM")
    year, part = int(match.group(1)), (match.group(2) or "").upper()
    if year < 1:
        raise BadFilterError(f"period {period!r}: there is no year 0")
    if not part:
        return dt.date(year, 1, 1), dt.date(year, 12, 31)
    if part.startswith("Q"):
        first_month = 3 * (int(part[1]) - 1) + 1
        last_month = first_month + 2
    else:
        first_month = last_month = int(part)
        if not 1 <= first_month <= 12:
            raise BadFilterError(f"period {period!r}: month must be 01..12")
    start = dt.date(year, first_month, 1)
    after = dt.date(year + (last_month == 12), last_month % 12 + 1, 1)
    return start, after - dt.timedelta(days=1)


@dataclass(frozen=True)
class Filters:
    """Which records a layer or export covers. Empty fields filter nothing."""

    jurisdiction: str | None = None  # adcode of a province, city or county
    industry: str | None = None  # GB/T 4754 code or prefix (C26, C2614)
    period: str | None = None
    start: dt.date | None = None
    end: dt.date | None = None
    violation_type: str | None = None
    #: The public view (:mod:`geo_service.disclosure`): no count below this but zero is
    #: published, and point records are refused (set by the access policy for anonymous
    #: callers, never by a query parameter).
    min_count: int | None = None

    def __post_init__(self) -> None:
        if self.jurisdiction is not None and not re.fullmatch(r"\d{6}", self.jurisdiction):
            raise BadFilterError(f"jurisdiction {self.jurisdiction!r} is not a 6-digit adcode")
        if self.industry is not None and not re.fullmatch(r"[A-Za-z]\d{0,4}", self.industry):
            raise BadFilterError(f"industry {self.industry!r} is not a GB/T 4754 code or prefix")
        if self.period is not None:
            period_bounds(self.period)
        if self.start and self.end and self.start > self.end:
            raise BadFilterError("start is after end")

    def date_range(self) -> tuple[dt.date | None, dt.date | None]:
        """The inclusive date range these filters allow (period intersected with start/end)."""
        start, end = self.start, self.end
        if self.period:
            p_start, p_end = period_bounds(self.period)
            start = max(start, p_start) if start else p_start
            end = min(end, p_end) if end else p_end
        return start, end

    def as_dict(self) -> dict[str, Any]:
        """The filters that are set, JSON-ready (for provenance)."""
        return {
            k: (v.isoformat() if isinstance(v, dt.date) else v)
            for k, v in asdict(self).items()
            if v is not None and k != "min_count"
        }


#: The filters every listing, tile, download and map takes, by query name, with what each
#: means (the one definition: the routes, their OpenAPI entries and the map pages read it).
FILTER_FIELDS: dict[str, str] = {
    "jurisdiction": "行政区划代码 adcode of a province, city or county (6 digits)",
    "industry": "行业 GB/T 4754 code or prefix (C26, C2614)",
    "period": "时段 2024, 2024-Q2 or 2024-05",
    "start": "起始日期 first date (YYYY-MM-DD)",
    "end": "截止日期 last date (YYYY-MM-DD)",
    "violation_type": "违法类型 violation type (cases) / problem category (inspections)",
}
FILTER_NAMES = tuple(FILTER_FIELDS)
_DATES = ("start", "end")


def filters_from(query: Mapping[str, str]) -> Filters:
    """The filters among a request's query parameters (others are left alone), checked:
    a bad value is a :class:`BadFilterError`."""
    values: dict[str, Any] = {}
    for name in FILTER_NAMES:
        text = query.get(name)
        if text is None or (name in _DATES and not text):
            continue
        if name in _DATES:
            try:
                values[name] = dt.date.fromisoformat(text)
            except ValueError:
                raise BadFilterError(f"{name} {text!r} is not a date (YYYY-MM-DD)") from None
        else:
            values[name] = text
    return Filters(**values)
