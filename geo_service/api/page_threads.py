"""Where an item page of point records is made: on a worker thread, the event loop free
meanwhile, and on a SQLite store one page at a time.

Pages made on several threads at once over a SQLite file cost about twice the CPU each
of pages made one after the other (the SQLite library's own locks and each pooled
connection's cold cache, besides the GIL); on PostgreSQL, where the store works in a
process of its own, they do not, and pages keep the framework's threads. The figures
are in ``docs/benchmarks.md`` (items). A slow page on SQLite (a filter no index serves)
holds the pages asked after it; the service's other routes go on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar
from weakref import WeakKeyDictionary

import anyio
import anyio.to_thread
from sqlalchemy import Engine

#: Item pages of point records a SQLite store makes at once.
SQLITE_PAGE_THREADS = 1

_T = TypeVar("_T")
#: One limiter per event loop (a test client may run each request in a loop of its own).
_LIMITERS: WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.CapacityLimiter] = WeakKeyDictionary()


async def make_page(engine: Engine, make: Callable[[], _T], records: bool) -> _T:
    """``make()`` on a worker thread; a page of point ``records`` from a SQLite store
    waits for the one being made."""
    limiter = _sqlite_pages() if records and engine.dialect.name == "sqlite" else None
    return await anyio.to_thread.run_sync(make, limiter=limiter)


def _sqlite_pages() -> anyio.CapacityLimiter:
    loop = asyncio.get_running_loop()
    limiter = _LIMITERS.get(loop)
    if limiter is None:
        limiter = _LIMITERS[loop] = anyio.CapacityLimiter(SQLITE_PAGE_THREADS)
    return limiter
