"""Ingest through the API (admins): the same validation and summary as ``geo-service ingest``.

The file is the request body (``curl --data-binary @cases.csv``), bounded by the service's
body limit. It is written to a private temporary directory under a name the service
chooses, ingested as one batch, and deleted; the rejected rows stay in the store and are
served back as the rejects CSV of the batch.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from sqlalchemy import Engine

from geo_service.access.audit import AuditLog
from geo_service.access.policy import covers, require_role
from geo_service.api.dependencies import Caller, get_audit_log, get_caller, get_engine
from geo_service.core.errors import InputFileError, NotFoundError
from geo_service.ingest import KINDS, IngestOptions, ingest_file
from geo_service.ingest.readers import InputLimits
from geo_service.ingest.rejects import rejects_csv
from geo_service.store.batches import read_batch, read_rejects

router = APIRouter()

#: Content types a client may send, and the file suffix each is read as.
CONTENT_TYPES = {
    "text/csv": ".csv",
    "application/csv": ".csv",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ".xlsx",
    "application/geo+json": ".geojson",
    "application/geopackage+sqlite3": ".gpkg",
}
SUFFIXES = (".csv", ".txt", ".xlsx", ".geojson", ".json", ".gpkg")
CRS_CHOICES = ("WGS84", "CGCS2000", "GCJ02", "BD09")


def upload_suffix(filename: str | None, content_type: str | None) -> str:
    """The suffix the upload is read as: from its file name, else its content type."""
    if filename:
        suffix = Path(filename).suffix.lower()
        if suffix not in SUFFIXES:
            raise InputFileError(
                f"{suffix or 'no suffix'}: unsupported file type (CSV, XLSX, GeoJSON or GeoPackage)"
            )
        return suffix
    media = (content_type or "").split(";")[0].strip().lower()
    if media not in CONTENT_TYPES:
        raise InputFileError(
            "give ?filename=… or a Content-Type of " + ", ".join(sorted(CONTENT_TYPES))
        )
    return CONTENT_TYPES[media]


def safe_name(filename: str | None, suffix: str) -> str:
    """A file name of letters, digits, ``-`` and ``_`` only: nothing of a path survives."""
    stem = Path(filename or "upload").stem
    stem = re.sub(r"[^\w\-]", "_", stem)[:80].strip("._") or "upload"
    return stem + suffix


def _ingest_bytes(engine: Engine, data: bytes, name: str, options: IngestOptions) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="geo-upload-") as directory:
        path = Path(directory) / name
        path.write_bytes(data)
        options = replace(
            options, progress=False, source_name=name, rejects_path=Path(directory) / "rejects.csv"
        )
        summary = ingest_file(engine, path, options)
    summary.pop("rejects_path", None)  # a server path: the rejects are served from the store
    return summary


_BODY = {"schema": {"type": "string", "format": "binary"}}
_UPLOAD_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "the file itself (CSV, XLSX, GeoJSON or GeoPackage)",
        "content": {media: _BODY for media in CONTENT_TYPES},
    }
}


@router.post(
    "/ingest/{kind}", operation_id="ingest_upload", status_code=201, openapi_extra=_UPLOAD_DOC
)
async def ingest_upload(
    kind: str,
    request: Request,
    filename: str | None = Query(None, max_length=200, description="the file's name (its type)"),
    crs: str | None = Query(None, description="CRS of rows without a crs cell"),
    centroids: bool = Query(
        False,
        description="GeoJSON/GeoPackage: place lines and polygons at a point on their "
        "surface (else rejected as not_a_point)",
    ),
    engine: Engine = Depends(get_engine),
    caller: Caller = Depends(get_caller),
    audit_log: AuditLog = Depends(get_audit_log),
) -> JSONResponse:
    """Ingest one file (admins): the JSON summary of ``geo-service ingest`` and a link to
    the batch's rejects. Rows placed outside the admin's jurisdiction are rejected."""
    require_role(caller, "admin")
    if kind not in KINDS:
        raise InputFileError(f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}")
    if crs is not None and crs.upper() not in CRS_CHOICES:
        raise InputFileError(f"crs must be one of {', '.join(CRS_CHOICES)}")
    suffix = upload_suffix(filename, request.headers.get("content-type"))
    data = await request.body()
    if not data:
        raise InputFileError("the request body is empty: send the file as the body")
    limits = InputLimits.from_settings(request.app.state.settings)
    options = IngestOptions(
        kind=kind,
        crs=crs,
        within=caller.jurisdiction,
        account=caller.name,
        limits=limits,
        centroids=centroids,
    )
    summary = await run_in_threadpool(
        _ingest_bytes, engine, data, safe_name(filename, suffix), options
    )
    batch = summary["batch_id"]
    summary["links"] = [
        {"rel": "self", "href": f"/ingest/batches/{batch}", "type": "application/json"},
        {"rel": "rejects", "href": f"/ingest/batches/{batch}/rejects.csv", "type": "text/csv"},
    ]
    await run_in_threadpool(
        audit_log.record,
        caller,
        "ingest",
        f"/ingest/{kind}",
        {"filename": filename, "crs": crs, "batch_id": batch},
        summary["accepted"],
    )
    return JSONResponse(summary, status_code=201)


#: A batch id as the store numbers them (a larger one is a 400, not a driver's overflow).
BatchId = Annotated[int, PathParam(ge=1, le=2**63 - 1, description="the batch's id")]


def _own_batch(engine: Engine, caller: Caller, batch_id: int) -> dict[str, Any]:
    """The batch, if it was loaded within the admin's jurisdiction; else 404, as for a
    batch that does not exist (its existence is not another jurisdiction's to learn)."""
    require_role(caller, "admin")
    batch = read_batch(engine, batch_id)
    if not covers(engine, caller, batch["jurisdiction"]):
        raise NotFoundError(f"no ingest batch {batch_id}")
    return batch


@router.get("/ingest/batches/{batch_id}", operation_id="ingest_batch")
def ingest_batch(
    batch_id: BatchId,
    engine: Engine = Depends(get_engine),
    caller: Caller = Depends(get_caller),
) -> dict[str, Any]:
    """One ingest batch as stored: rows read, accepted, rejected, by reason (admins whose
    jurisdiction covers the batch's)."""
    return _own_batch(engine, caller, batch_id)


@router.get(
    "/ingest/batches/{batch_id}/rejects.csv", operation_id="ingest_rejects", response_class=Response
)
def ingest_rejects(
    batch_id: BatchId,
    engine: Engine = Depends(get_engine),
    caller: Caller = Depends(get_caller),
) -> Response:
    """A batch's rejected rows with their reasons, as the CLI's rejects file (admins whose
    jurisdiction covers the batch's)."""
    batch = _own_batch(engine, caller, batch_id)
    return Response(
        rejects_csv(read_rejects(engine, batch_id), batch["kind"]),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="batch-{batch_id}.rejects.csv"'},
    )
