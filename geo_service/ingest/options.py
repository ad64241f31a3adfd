"""How one ingest reads its file: the options of :func:`~geo_service.ingest.ingest_file`."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from geo_service.ingest.readers import InputLimits


@dataclass(frozen=True)
class IngestOptions:
    """How to read one file."""

    kind: str
    crs: str | None = None  # default CRS of rows without a ``crs`` cell
    rejects_path: Path | None = None
    chunk_rows: int = 100_000  # records read, validated, located and written at a time
    progress: bool = True
    today: dt.date | None = None  # latest acceptable date (default: today)
    source_name: str | None = None  # what the batch records as its source (default: the path)
    within: str | None = None  # adcode rows must be placed in (an uploading account's scope)
    account: str | None = None  # the uploading account, recorded with the batch
    limits: InputLimits = field(default_factory=InputLimits)  # what a file may hold (GEO_MAX_*)
    centroids: bool = False  # GIS files: place lines and polygons at a point on their surface
    dry_run: bool = False  # say what would be inserted, updated and rejected; store nothing
    workers: int | None = None  # processes locating chunks (None: chosen by the file's size)
    # chunks a group of records holds when the batch is written while the file is read
    # (None: chosen by the file's size; 0: the batch is written once the file is read)
    group_chunks: int | None = None
