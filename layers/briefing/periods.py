"""The period a briefing covers (a month, a quarter or a year), the one before it and the
same one a year before: what its figures are set against."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Literal

from layers.errors import LayerError

_PERIOD = re.compile(r"^(\d{4})(?:-(?:Q([1-4])|(\d{2})))?$")
_QUARTER_ZH = ("一", "二", "三", "四")


class BriefPeriodError(LayerError):
    """A period that is not ``2024``, ``2024-Q2`` or ``2024-05`` (a 400 over HTTP)."""

    code = "bad_period"


@dataclass(frozen=True)
class BriefPeriod:
    """A month (``2024-05``), a quarter (``2024-Q2``) or a year (``2024``).

    Examples
    --------
    >>> q = BriefPeriod.parse("2024-Q1")
    >>> str(q.previous()), str(q.year_before()), q.label_zh
    ('2023-Q4', '2023-Q1', '2024年第一季度')
    >>> str(BriefPeriod.parse("2024-01").previous())
    '2023-12'
    """

    kind: Literal["month", "quarter", "year"]
    year: int
    part: int = 0  # the month (1–12) or quarter (1–4); 0 for a year

    @classmethod
    def parse(cls, text: str) -> BriefPeriod:
        """The period written ``text``; :class:`BriefPeriodError` in Chinese and English."""
        match = _PERIOD.match(text)
        year = int(match.group(1)) if match else 0
        if match is None or not 1900 <= year <= 2999:
            raise BriefPeriodError(
                f"时段 {text!r} 无效：须为年（2024）、季度（2024-Q2）或月份（2024-05）; "
                f"period {text!r} must be a year (2024), a quarter (2024-Q2) or a month (2024-05)"
            )
        if match.group(2):
            return cls("quarter", year, int(match.group(2)))
        if match.group(3):
            month = int(match.group(3))
            if not 1 <= month <= 12:
                raise BriefPeriodError(
                    f"时段 {text!r} 无效：月份须为 01–12; period {text!r}: the month must be 01–12"
                )
            return cls("month", year, month)
        return cls("year", year)

    def __str__(self) -> str:
        if self.kind == "quarter":
            return f"{self.year}-Q{self.part}"
        if self.kind == "month":
            return f"{self.year}-{self.part:02d}"
        return str(self.year)

    @property
    def label_zh(self) -> str:
        """``2024年第二季度``, ``2024年5月``, ``2024年``."""
        if self.kind == "quarter":
            return f"{self.year}年第{_QUARTER_ZH[self.part - 1]}季度"
        if self.kind == "month":
            return f"{self.year}年{self.part}月"
        return f"{self.year}年"

    def previous(self) -> BriefPeriod:
        """The period just before this one, of the same kind."""
        if self.kind == "year":
            return BriefPeriod("year", self.year - 1)
        last = 4 if self.kind == "quarter" else 12
        if self.part == 1:
            return BriefPeriod(self.kind, self.year - 1, last)
        return BriefPeriod(self.kind, self.year, self.part - 1)

    def year_before(self) -> BriefPeriod:
        """The same period a year earlier."""
        return BriefPeriod(self.kind, self.year - 1, self.part)

    def bounds(self) -> tuple[dt.date, dt.date]:
        """Its first and last day."""
        if self.kind == "year":
            return dt.date(self.year, 1, 1), dt.date(self.year, 12, 31)
        first = self.part if self.kind == "month" else 3 * self.part - 2
        last = self.part if self.kind == "month" else 3 * self.part
        after = dt.date(self.year + (last == 12), last % 12 + 1, 1)
        return dt.date(self.year, first, 1), after - dt.timedelta(days=1)

    def trend_window(self) -> tuple[dt.date, dt.date, str]:
        """The window the space-time hot spots are read over, ending with this period, and
        its time step: twelve months for a month, eight quarters for a quarter, twelve
        quarters for a year."""
        _start, end = self.bounds()
        if self.kind == "month":
            first = BriefPeriod("month", self.year - 1, self.part).bounds()[1]
            return first + dt.timedelta(days=1), end, "month"
        years_back = 2 if self.kind == "quarter" else 3
        first = BriefPeriod(self.kind, self.year - years_back, self.part).bounds()[1]
        return first + dt.timedelta(days=1), end, "quarter"
