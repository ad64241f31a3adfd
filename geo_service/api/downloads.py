"""Downloads: every layer as a file, the KDE surface as GeoTIFF, and a ready QGIS project."""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy import Engine

from geo_service.access.audit import AuditLog
from geo_service.api.byte_ranges import ranged
from geo_service.api.dependencies import (
    Caller,
    credentials_of,
    get_audit_log,
    get_caller,
    get_engine,
    layer_parameter_docs,
    scoped_filters,
)
from geo_service.api.features import LAYER_TITLES
from geo_service.api.tiles import FIELD_LABELS
from geo_service.builds.exports import EXPORTABLE, export_layer, load_layer
from geo_service.builds.parameters import LayerParameters
from geo_service.builds.registry import PARAMETER_NAMES, parse_parameters
from geo_service.builds.risk import names_enterprises
from geo_service.builds.run import analytic_layer
from geo_service.builds.skips import THIN_DATA
from geo_service.core.errors import (
    AuthenticationRequiredError,
    BadFilterError,
    NotFoundError,
    UnknownLayerError,
)
from geo_service.core.filters import FILTER_NAMES, Filters
from geo_service.core.settings import Settings
from geo_service.store.models import RECORD_TABLES
from geo_service.store.queries import jurisdiction_bounds
from layers.errors import UnsupportedFormatError
from layers.files import LayerNames
from layers.qgis import (
    ANALYTIC_SOURCES,
    AUTH_CONFIG_ID,
    Provenance,
    ServiceLayer,
    auth_config_xml,
    enforcement_layers,
    project_xml,
)
from layers.rasters import NODATA, read_geotiff

#: Extension in the URL → (format name of :func:`export_layer`, media type).
FORMATS: dict[str, tuple[str, str]] = {
    "geojson": ("geojson", "application/geo+json"),
    "gpkg": ("gpkg", "application/geopackage+sqlite3"),
    "csv": ("csv", "text/csv; charset=utf-8"),
    "xlsx": ("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    "tif": ("gtiff", "image/tiff; application=geotiff"),
}
QGS = "application/x-qgis-project"

router = APIRouter()


def _parameters(layer: str, query: Mapping[str, str]) -> LayerParameters:
    """The layer's parameters from the query, parsed as items, tiles and the command line
    parse them; a parameter of another layer is refused, other names are left alone."""
    given = {k: v for k, v in query.items() if k in PARAMETER_NAMES}
    return parse_parameters(layer, given, also=())


#: OpenAPI query parameters of the downloads: the layers' parameters, read from the query.
_PARAMETER_DOCS = layer_parameter_docs()


def _check_request(layer: str, ext: str) -> str:
    if ext not in FORMATS:
        raise NotFoundError(f"no format {ext!r}; choose from {', '.join(FORMATS)}")
    if layer not in EXPORTABLE:
        raise UnknownLayerError(f"no layer {layer!r}; choose from {', '.join(EXPORTABLE)}")
    if ext == "tif" and layer != "kde":
        raise UnsupportedFormatError(f"{layer} is a vector layer: only kde is a raster (kde.tif)")
    return FORMATS[ext][0]


def _filename(layer: str, ext: str, filters: Filters, parameters: Mapping[str, Any]) -> str:
    """``cases_450100_2024.gpkg``: the layer, then the filters and parameters that made it."""
    given = filters.as_dict()
    parts = [layer, *(str(given[k]) for k in FILTER_NAMES if k in given)]
    parts += [f"{k}-{v}" for k, v in parameters.items()]
    return "_".join(re.sub(r"[^\w.-]+", "-", p) for p in parts) + f".{ext}"


def _disposition(filename: str) -> str:
    stem, ext = filename.rsplit(".", 1)
    parts = [p.encode("ascii", "ignore").decode().strip("-") for p in stem.split("_")]
    ascii_name = "_".join(p for p in parts if p) + f".{ext}"
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"


def layer_file(
    engine: Engine,
    layer: str,
    fmt: str,
    filters: Filters,
    parameters: LayerParameters | None,
    settings: Settings | None = None,
) -> tuple[bytes, dict[str, Any]]:
    """The layer written in ``fmt`` (export names) as bytes, and its provenance with the
    ``features`` written (every format: what the audit log records).

    Written into a private temporary folder that is removed before returning. A
    GeoPackage's layer is named after the collection, titled as the collections are and
    its fields as the tiles and queryables title them (:data:`FIELD_LABELS`).
    """
    names = LayerNames(layer, LAYER_TITLES.get(layer, layer), FIELD_LABELS)
    with tempfile.TemporaryDirectory(prefix="geo-download-") as folder:
        out = Path(folder) / f"layer.{fmt}"
        summary = export_layer(engine, layer, fmt, out, filters, parameters, settings, names)
        side = out.with_name(out.name + ".metadata.json")  # CSV provenance
        meta = json.loads(side.read_text("utf-8")) if side.exists() else summary
        data = out.read_bytes()
    meta = {k: v for k, v in meta.items() if k not in ("path", "format")}
    return data, {**meta, "features": summary["features"]}


def _provenance_header(meta: dict[str, Any]) -> str:
    """Provenance as ASCII JSON for a header: lists and tables (in the files) left out."""
    parameters = meta.get("parameters") or {}
    scalars = {k: v for k, v in parameters.items() if not isinstance(v, list | dict)}
    return json.dumps({**meta, "parameters": scalars}, ensure_ascii=True, default=str)


@router.get("/downloads/project.qgs", operation_id="download_qgis_project", response_class=Response)
def qgis_project(
    request: Request,
    filters: Filters = Depends(scoped_filters),
    engine: Engine = Depends(get_engine),
    caller: Caller = Depends(get_caller),
) -> Response:
    """A QGIS 3 project over this service's live layers (OGC API - Features and tiles).

    An account's project names the authentication configuration of
    ``/downloads/qgis-auth.xml`` in every source (never the key); a visitor's holds the
    public layers only. Each analytic layer's metadata says how it was built."""
    base = str(request.base_url)
    account = caller.authenticated
    layers = enforcement_layers(
        _hexagon_counts(engine, filters), _kde_peak(engine, filters), account=account
    )
    settings = request.app.state.settings
    layers = [_with_provenance(engine, layer, filters, settings) for layer in layers]
    authcfg = AUTH_CONFIG_ID if account else None
    xml = project_xml(
        base, layers, jurisdiction_bounds(engine, filters), filters.as_dict(), authcfg=authcfg
    )
    name = _filename("project", "qgs", filters, {})
    headers = {"Content-Disposition": _disposition(name)}
    return Response(xml.encode("utf-8"), media_type=QGS, headers=headers)


def _with_provenance(
    engine: Engine, layer: ServiceLayer, filters: Filters, settings: Settings
) -> ServiceLayer:
    """``layer`` with its abstract: the provenance of the build its default view draws
    (an analytic layer the data cannot give says so)."""
    name = ANALYTIC_SOURCES.get(layer.key)
    if name is None:
        return layer
    try:
        meta = analytic_layer(engine, name, filters, {}, settings).provenance()
    except THIN_DATA as exc:
        return replace(layer, abstract=f"{layer.title}\n未生成 Not built: {exc}")
    provenance = Provenance(
        meta["data_version"], meta["built_at"], meta["parameters"], meta["filters"]
    )
    return replace(layer, abstract=provenance.abstract(layer.title))


@router.get("/downloads/qgis-auth.xml", operation_id="download_qgis_auth", response_class=Response)
def qgis_auth(request: Request, caller: Caller = Depends(get_caller)) -> Response:
    """QGIS 认证配置 The QGIS authentication configuration ``geosvc1`` for the key this
    request carries (HTTP Basic, the key as the password), for the project's layers:
    import it once in QGIS (Settings ▸ Options ▸ Authentication ▸ Import). Accounts
    only, asked with the key itself (a browser's sign-in session carries none)."""
    credentials = credentials_of(request)
    if not caller.authenticated or credentials is None or credentials.session:
        raise AuthenticationRequiredError(
            "请用 API 密钥请求 QGIS 认证配置（登录会话不含密钥）"
            " (ask for the QGIS authentication configuration with your API key: a"
            " sign-in session carries none)"
        )
    xml = auth_config_xml(str(request.base_url), credentials.secret)
    headers = {
        "Content-Disposition": _disposition(f"{AUTH_CONFIG_ID}.xml"),
        "Cache-Control": "no-store",  # it holds the key
    }
    return Response(xml.encode("utf-8"), media_type="application/xml", headers=headers)


def _hexagon_counts(engine: Engine, filters: Filters) -> list[float]:
    """Case counts per hexagon for the filters (to class the hexagon layer's colours)."""
    frame, _ = load_layer(engine, "hexagons", filters)
    return [float(v) for v in frame["cases"].dropna()]  # the public view withholds some


def _kde_peak(engine: Engine, filters: Filters) -> float | None:
    """Peak of the default KDE surface for the filters (None when no case matches)."""
    try:
        stored = analytic_layer(engine, "kde", filters, {})
    except BadFilterError:  # no located case: no surface to add
        return None
    values, _, _ = read_geotiff(stored.payload)
    return float(np.nanmax(np.where(values == NODATA, np.nan, values)))


@router.get(
    "/downloads/{layer}.{ext}",
    operation_id="download",
    response_class=Response,
    openapi_extra={"parameters": _PARAMETER_DOCS},
)
def download(
    layer: str,
    ext: str,
    request: Request,
    filters: Filters = Depends(scoped_filters),
    engine: Engine = Depends(get_engine),
    caller: Caller = Depends(get_caller),
    audit_log: AuditLog = Depends(get_audit_log),
) -> Response:
    """A layer as GeoJSON, GeoPackage, CSV or XLSX (``kde`` also as GeoTIFF), with provenance."""
    fmt = _check_request(layer, ext)
    parameters = _parameters(layer, request.query_params)
    chosen = parameters.asked()
    settings = request.app.state.settings
    data, meta = layer_file(engine, layer, fmt, filters, parameters, settings)
    named = filters.min_count is None and names_enterprises(layer, parameters)
    if layer in RECORD_TABLES or named:
        audit_log.record(
            caller,
            "download",
            f"/downloads/{layer}.{ext}",
            {**filters.as_dict(), **chosen},
            meta.get("features"),
        )
    headers = {
        "Content-Disposition": _disposition(_filename(layer, ext, filters, chosen)),
        # CSV has nowhere inside for it; every format carries it here too (ASCII JSON)
        "X-Provenance": _provenance_header(meta),
    }
    if ext == "tif":  # GDAL's /vsicurl/ (the QGIS project's GeoTIFF layer) reads by ranges
        return ranged(data, request.headers.get("range"), FORMATS[ext][1], headers)
    return Response(data, media_type=FORMATS[ext][1], headers=headers)
