"""Worker processes that locate an ingest's chunks while the next ones are read.

Reading and validating a chunk must follow the file's order (a repeated id is the later
one), but placing and linking a validated chunk depends on that chunk alone. A large file
hands its validated chunks to worker processes, each given the file's locator (the
divisions and the register as read once at the start of the ingest) when it starts,
and sets their results aside in file order.

The workers are spawned, not forked: an ingest may run inside the service, whose
threads a fork would copy in whatever state they are in.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, TypeVar

#: Files with at least this many records get a worker process when none is asked for
#: (a worker takes a second or two to start; smaller files are done sooner without).
PARALLEL_ROWS = 250_000
#: … and at least this many chunks, so that reading and locating can overlap.
PARALLEL_CHUNKS = 3
#: Most workers chosen when none is asked for: the reading process is then the limit.
MOST_WORKERS = 2
#: Cores the reading process keeps when workers are chosen: its reading and validating,
#: and the thread writing its batch (on 2 cores a worker made a large ingest slower).
READER_CORES = 2

_locator: Any = None  # in a worker: the ingest's locator, given once at its start

T = TypeVar("T")


def _start(locator: bytes) -> None:
    global _locator
    _locator = pickle.loads(locator)


def worker_locator() -> Any:
    """The locator this worker process was started with."""
    if _locator is None:
        raise RuntimeError("not in an ingest worker process")
    return _locator


def large_file(records: int, chunk_rows: int) -> bool:
    """Whether a file of ``records`` is worth overlapping its stages for: at least
    :data:`PARALLEL_ROWS` records in :data:`PARALLEL_CHUNKS` chunks or more."""
    return records >= max(PARALLEL_ROWS, PARALLEL_CHUNKS * chunk_rows)


def workers_for(asked: int | None, records: int | None, chunk_rows: int) -> int:
    """How many worker processes an ingest uses: ``asked`` when given; else, for a file
    of at least :data:`PARALLEL_ROWS` records in :data:`PARALLEL_CHUNKS` chunks or more,
    the cores this process may use beyond :data:`READER_CORES` (at most
    :data:`MOST_WORKERS`), and none for a smaller file or one whose length is not known
    before it is read."""
    if asked is not None:
        return max(asked, 0)
    if records is None or not large_file(records, chunk_rows):
        return 0
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(0, min(MOST_WORKERS, (cores or 1) - READER_CORES))


class ChunkWorkers:
    """A pool of spawned processes, each holding the ingest's locator."""

    def __init__(self, locator: Any, workers: int) -> None:
        self.workers = workers
        self._pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start,
            initargs=(pickle.dumps(locator, protocol=pickle.HIGHEST_PROTOCOL),),
        )

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        """Run ``fn(*args)`` in a worker (``fn`` a module-level function)."""
        return self._pool.submit(fn, *args)

    def close(self) -> None:
        """Drop the tasks not started and wait for the workers to end."""
        self._pool.shutdown(wait=True, cancel_futures=True)
