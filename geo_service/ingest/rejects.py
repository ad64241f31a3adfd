"""The rejects of an ingest: frames for the store and a CSV file for people.

The rejects file of ``geo-service ingest`` and the one served for a stored batch
(``/ingest/batches/{id}/rejects.csv``) are both rendered here, with every cell that
starts like a spreadsheet formula written as text (:mod:`layers.spreadsheets`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from geo_service.core.errors import InputFileError
from geo_service.ingest.columns import map_headers
from geo_service.ingest.locate import Outcome
from geo_service.ingest.readers import RawTable
from geo_service.ingest.reject_text import EXPLANATION_COLUMN, Headers, explain
from layers.spreadsheets import safe_row

REJECT_COLUMNS = ("row_number", "reason", "detail", EXPLANATION_COLUMN)


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
    rejected: pd.DataFrame | Iterable[pd.DataFrame],
    headers: list[str],
    path: Path,
    columns: Headers,
) -> Path:
    """Write the rejects file (UTF-8 with BOM so that Excel shows Chinese correctly).

    ``rejected`` is a frame of :func:`rejected_frame`, or such frames one after the
    other (a file's chunks, in file order); ``columns`` maps the service's column names
    to the file's headers, which the Chinese explanation names.
    """
    parts = [rejected] if isinstance(rejected, pd.DataFrame) else rejected
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(safe_row([*REJECT_COLUMNS, *headers]))
        for part in parts:
            rows = zip(
                part["row_number"], part["reason"], part["detail"], part["values"], strict=True
            )
            writer.writerows(_csv_rows(headers, rows, columns))
    return path


#: A stored reject: row number, reason, detail and the row's original values by header.
StoredReject = tuple[int, str, str | None, Mapping[str, Any]]


def rejects_csv(rejects: Iterable[StoredReject], kind: str) -> bytes:
    """Stored rejects (in row order) of a batch of ``kind`` as the rejects file of
    ``geo-service ingest`` (UTF-8 with BOM): the original columns under their headers in
    the order first seen."""
    rejects = list(rejects)
    headers: dict[str, None] = {}
    for _, _, _, values in rejects:
        headers.update(dict.fromkeys(values))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(safe_row([*REJECT_COLUMNS, *headers]))
    writer.writerows(_csv_rows(list(headers), rejects, file_columns(kind, list(headers))))
    return out.getvalue().encode("utf-8-sig")


def file_columns(kind: str, headers: list[str]) -> dict[str, str]:
    """The service's column names → the file's headers for them (its own where unknown)."""
    try:
        mapping = map_headers(kind, headers)
    except InputFileError:  # a kind no longer known, or headers that clash: as they are
        return {}
    return {canonical: header for header, canonical in mapping.items()}


def _csv_rows(
    headers: list[str], rejects: Iterable[StoredReject], columns: Headers
) -> Iterator[list[Any]]:
    """One row per reject: number, reason, detail, its explanation in Chinese, then its
    values under ``headers``; no cell starts like a formula."""
    for number, reason, detail, values in rejects:
        said = explain(reason, detail, columns)
        cells = (values.get(h, "") for h in headers)
        yield safe_row([number, reason, detail or "", said, *cells])


def reject_non_points(raw: RawTable, rows: pd.DataFrame, outcome: Outcome) -> None:
    """Reject ``not_a_point`` the features of a GIS file that are lines or polygons (or
    multi-points) placed nowhere: a point on their surface is taken only when asked for."""
    if raw.geometry_types is None:
        return
    kinds = pd.Series(raw.geometry_types, index=rows.index, dtype=object)
    placed = np.zeros(len(kinds), dtype=bool) if raw.surface_points is None else raw.surface_points
    bad = kinds.ne("") & kinds.ne("Point") & ~pd.Series(placed, index=rows.index)
    detail = kinds + " geometry: only points are placed (ask for a point on its surface: "
    outcome.reject(bad, "not_a_point", detail + "--centroids, or centroids=true over HTTP)")
