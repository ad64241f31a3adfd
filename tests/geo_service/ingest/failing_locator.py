"""A locator that fails on its third chunk, for tests of ingests whose chunks are
located in worker processes (which import this module to unpickle it)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from geo_service.ingest.locate import Locator

calls = 0  # chunks located by this process


class ThirdChunkFails(Locator):
    """Locates like :class:`Locator` until its third chunk, which raises."""

    def locate_and_link(self, rows: pd.DataFrame, *args: Any, **kw: Any) -> Any:
        global calls
        calls += 1
        if calls == 3:
            raise RuntimeError("the third chunk cannot be located")
        return super().locate_and_link(rows, *args, **kw)
