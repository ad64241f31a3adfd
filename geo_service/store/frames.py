"""Frames of query rows."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd


def rows_frame(rows: Iterable[Any], columns: Sequence[str], dtype: Any = None) -> pd.DataFrame:
    """A frame of a query's ``rows`` under ``columns``.

    The rows become plain tuples first. Given SQLAlchemy rows, pandas asks each one for a
    ``dtype`` attribute before it falls back to tuples, and a row answers a missing
    attribute by raising: that costs several times the frame itself.
    """
    return pd.DataFrame([tuple(r) for r in rows], columns=list(columns), dtype=dtype)
