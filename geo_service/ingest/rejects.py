"""The rejects of an ingest: frames for the store and a CSV file for people."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from geo_service.ingest.locate import Outcome
from geo_service.ingest.readers import RawTable

REJECT_COLUMNS = ("row_number", "reason", "detail")


def rejected_frame(raw: RawTable, outcome: Outcome) -> pd.DataFrame:
    """One row per rejected input row: number, reason, detail and original values."""
    bad = outcome.reason.notna().to_numpy()
    originals = raw.data.loc[bad, raw.headers].fillna("").astype(str)
    frame = pd.DataFrame(
        {
            "row_number": raw.row_numbers[bad],
            "reason": outcome.reason[bad].to_numpy(),
            "detail": outcome.detail[bad].to_numpy(),
            "values": originals.to_dict(orient="records"),
        }
    )
    return frame.sort_values("row_number", kind="stable").reset_index(drop=True)


def write_rejects_csv(
    rejected: pd.DataFrame | Iterable[pd.DataFrame], headers: list[str], path: Path
) -> Path:
    """Write the rejects file (UTF-8 with BOM so that Excel shows Chinese correctly).

    ``rejected`` is a frame of :func:`rejected_frame`, or such frames one after the
    other (a file's chunks, in file order).
    """
    parts = [rejected] if isinstance(rejected, pd.DataFrame) else rejected
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow([*REJECT_COLUMNS, *headers])
        for part in parts:
            for number, reason, detail, values in zip(
                part["row_number"], part["reason"], part["detail"], part["values"], strict=True
            ):
                writer.writerow([number, reason, detail or "", *(values[h] for h in headers)])
    return path
