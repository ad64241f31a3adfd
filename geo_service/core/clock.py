"""The bureau's clock: Beijing time (UTC+8), whatever zone the host is set to.

A record dated today by an inspector in China must pass the service's "no later than
today" check even when the host runs on UTC, where it is still yesterday until 08:00
Beijing time. Every "today", quarter and stamp the service shows or checks comes from
here.
"""

from __future__ import annotations

import datetime as dt
from typing import Final

CHINA_TIME: Final = dt.timezone(dt.timedelta(hours=8))


def utc_now() -> dt.datetime:
    """The present, aware, in UTC: what the Beijing clock reads (a test may set it)."""
    return dt.datetime.now(dt.UTC)


def china_now(now: dt.datetime | None = None) -> dt.datetime:
    """``now`` (default: the present) as an aware Beijing time.

    Examples
    --------
    >>> china_now(dt.datetime(2026, 12, 5, 16, 30, tzinfo=dt.UTC)).isoformat()
    '2026-12-06T00:30:00+08:00'
    """
    return (now or utc_now()).astimezone(CHINA_TIME)


def china_today(now: dt.datetime | None = None) -> dt.date:
    """The date in Beijing at ``now`` (default: the present).

    Examples
    --------
    >>> china_today(dt.datetime(2026, 12, 5, 16, 30, tzinfo=dt.UTC))
    datetime.date(2026, 12, 6)
    """
    return china_now(now).date()
