"""The auditable record of an inspection draw and its canonical bytes.

The record holds the revealed seed and its commitment, the data version, the
parameters, the method, per-stratum counts and every drawn enterprise with its
weight, probability, risk reasons and inspectors. :func:`record_bytes` is its
canonical JSON (sorted keys, floats rounded), the same bytes for the same draw.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from analytics.draw_seeds import seed_commitment, seed_text
from analytics.errors import DrawError

#: Version of the record layout written by :func:`draw_record`.
RECORD_FORMAT = "geo-service-draw/1"

#: Decimal digits every float in a draw record is rounded to.
RECORD_FLOAT_DIGITS = 6


def reasons_list(value: Any) -> list[str]:
    """Risk reasons as a list of text: none for a missing value, one for a lone string."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return []
    return [value] if isinstance(value, str) else [str(v) for v in value]


def _enterprise_entry(row: Mapping[Any, Any]) -> dict[str, Any]:
    last = row.get("last_inspected")
    return {
        "draw_order": row["draw_order"],
        "credit_code": row["credit_code"],
        "name": row.get("name", ""),
        "stratum": row["stratum"],
        "weight": row["weight"],
        "probability": row["probability"],
        "last_inspected": None if last is None or pd.isna(last) else pd.Timestamp(last).date(),
        "reasons": reasons_list(row.get("reasons")),
        "inspectors": list(row.get("inspectors", [])),
        "inspector_names": list(row.get("inspector_names", [])),
    }


def draw_record(
    assigned: pd.DataFrame,
    *,
    seed: str | int,
    data_version: int | str,
    parameters: Mapping[str, Any],
) -> dict[str, Any]:
    """The auditable record of a draw.

    Parameters
    ----------
    assigned : DataFrame
        :func:`assign_inspectors` output (``attrs["strata"]`` from :func:`draw_enterprises`).
    seed : str or int
        The revealed seed; the record holds its text and its commitment.
    data_version : int or str
        Version of the enterprise register the draw read.
    parameters : mapping
        Quarter, jurisdiction, quotas, exclusion window and whatever else was set.

    Returns
    -------
    dict
        ``format``, ``seed``, ``seed_commitment``, ``data_version``, ``parameters``,
        ``method``, ``strata`` (per stratum counts) and ``selected`` (one entry per
        enterprise in draw order). Serialise with :func:`record_bytes`.
    """
    if "strata" not in assigned.attrs:
        raise DrawError("the drawn enterprises carry no per-stratum counts (attrs['strata'])")
    rows = assigned.sort_values("draw_order").to_dict("records")
    return {
        "format": RECORD_FORMAT,
        "seed": seed_text(seed),
        "seed_commitment": seed_commitment(seed),
        "data_version": data_version,
        "parameters": dict(parameters),
        "method": {
            "rng": "numpy PCG64, seed sha256('geo-service-draw-rng:<purpose>:' + seed)",
            "enterprises": "efraimidis-spirakis keys -log1p(-U)/w per stratum, quota ceil",
            "inspectors": "least-loaded at random, then balanced along conflict-free chains",
        },
        "strata": assigned.attrs["strata"],
        "selected": [_enterprise_entry(row) for row in rows],
    }


def _canonical(value: Any) -> Any:
    """JSON-ready copy: floats rounded, NaN → null, dates in ISO form, numpy → Python."""
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [_canonical(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return round(value, RECORD_FLOAT_DIGITS) + 0.0 if math.isfinite(value) else None
    if value is None or value is pd.NaT or isinstance(value, bool | int | str):
        return None if value is pd.NaT else value
    if isinstance(value, dt.date):
        return value.isoformat()
    raise DrawError(f"a draw record cannot hold a {type(value).__name__}")


def record_bytes(record: Mapping[str, Any]) -> bytes:
    """Canonical UTF-8 JSON of a record: sorted keys, no spaces, floats rounded.

    Examples
    --------
    >>> record_bytes({"b": 0.1 + 0.2, "a": float("nan"), "名": dt.date(2025, 1, 2)})
    b'{"a":null,"b":0.3,"\\xe5\\x90\\x8d":"2025-01-02"}'
    """
    text = json.dumps(
        _canonical(record),
        sort_keys=True,
        ensure_ascii=False,
        allow_nan=False,
        separators=(",", ":"),
    )
    return text.encode("utf-8")


def record_digest(record: Mapping[str, Any]) -> str:
    """Hex SHA-256 of :func:`record_bytes` (the store's digest of the same JSON text)."""
    return hashlib.sha256(record_bytes(record)).hexdigest()
