"""Maps for leadership (Folium, every asset served locally).

``/maps/{name}`` pages load their layers as tiles from this service at run time;
``/maps/{name}/file`` is the same map as one HTML file holding its data (it opens from
disk with no network); ``/maps/cell/{h3}`` is what a click on a hexagon shows. The
landing page and ``/docs`` are :mod:`geo_service.api.landing`'s.
"""

from __future__ import annotations

import re
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

import h3
import pandas as pd
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import Engine

from analytics.hexagons import RESOLUTIONS
from geo_service.access.audit import AuditLog
from geo_service.api.dependencies import (
    Caller,
    get_audit_log,
    get_caller,
    get_engine,
    scoped_filters,
)
from geo_service.builds.map_files import map_file_data
from geo_service.builds.public import public_cell, store_secret
from geo_service.core.errors import (
    AuthenticationRequiredError,
    BadFilterError,
    NotFoundError,
    StoreNotReadyError,
)
from geo_service.core.filters import FILTER_NAMES, Filters
from geo_service.core.paths import STATIC_DIR
from geo_service.disclosure.lattice import PUBLIC_RESOLUTION
from geo_service.planning.draws import latest_draw_markers
from geo_service.store.boundaries import read_divisions
from geo_service.store.queries import data_version, extent, read_frame
from layers.cell_profile import cell_profile
from layers.map_files import FileAssets, build_map_file
from layers.maps import MAPS, Division, MapContext, build_map, resolution_choices

_CELL_COLUMNS = {
    "cases": ["case_id", "lon", "lat", "penalty_amount", "problem_type_label", "enterprise_name"],
    "inspections": ["inspection_id", "lon", "lat", "problem_found", "problem_type_label"],
}

#: The largest map file handed out: beyond it the filters must narrow (the sample's
#: files are at most 3.2 MB; a province's hexagons of resolution 10 would not be).
MAP_FILE_MAX_BYTES = 25_000_000

router = APIRouter()


@router.get("/maps/cell/{cell}", operation_id="map_cell")
def map_cell(
    cell: str,
    filters: Filters = Depends(scoped_filters),
    engine: Engine = Depends(get_engine),
    caller: Caller = Depends(get_caller),
    audit_log: AuditLog = Depends(get_audit_log),
) -> dict[str, Any]:
    """One H3 cell (resolution 5–10) for the filters: cases, inspections, problems found,
    penalty sum, top problem types and enterprises (what a click on a hexagon shows).

    Without an account: no enterprise names, and counts below the public minimum withheld."""
    _check_cell(cell)
    cases = read_frame(engine, "cases", filters, _CELL_COLUMNS["cases"])
    inspections = read_frame(engine, "inspections", filters, _CELL_COLUMNS["inspections"])
    if filters.min_count is not None:  # the public view (geo_service.disclosure)
        return public_cell(cell, cases, inspections, store_secret(engine))
    profile = cell_profile(cell, cases, inspections)
    if profile["top_enterprises"]:
        audit_log.record(caller, "read", f"/maps/cell/{cell}", filters.as_dict(), profile["cases"])
    return profile


@router.get("/maps/{name}", operation_id="map_page", response_class=HTMLResponse)
def map_page(
    name: str,
    request: Request,
    filters: Filters = Depends(scoped_filters),
    engine: Engine = Depends(get_engine),
    caller: Caller = Depends(get_caller),
    audit_log: AuditLog = Depends(get_audit_log),
) -> HTMLResponse:
    """An interactive map (heatmap, hexagons, hotspots, local-moran, emerging, clusters,
    commonalities, planner); the filters in the query are where the page starts. The
    planner shows accounts the latest stored draw of the jurisdiction (audited: it names
    enterprises); the clusters map shows accounts the cases as points (their tiles are
    audited as they are read). Without an account, picking a city or county shows a
    sign-in prompt in place of the map (nothing is asked that would be refused); the
    page links to its map file."""
    ctx = _page_context(name, request, engine, filters, caller)
    if ctx.markers:
        audit_log.record(caller, "read", f"/maps/{name}", filters.as_dict(), len(ctx.markers))
    return HTMLResponse(build_map(name, replace(ctx, file_path=f"/maps/{name}/file")))


@router.get(
    "/maps/{name}/file",
    operation_id="map_file",
    response_class=Response,
    responses={200: {"content": {"text/html": {}}, "description": "the map as one HTML file"}},
)
def map_file(
    name: str,
    request: Request,
    resolution: int | None = Query(
        None, description="六边形分辨率 H3 resolution of a map with a hexagon-size picker"
    ),
    filters: Filters = Depends(scoped_filters),
    engine: Engine = Depends(get_engine),
    caller: Caller = Depends(get_caller),
    audit_log: AuditLog = Depends(get_audit_log),
) -> Response:
    """Map ``name`` as one self-contained HTML file to hand on (an attachment): Leaflet,
    the page's scripts and styles, its layers as GeoJSON for the filters, the density
    surface as an image and a subset of the bundled font inline; it opens from disk with
    no network. Scoped as the page: an account's file holds its jurisdiction only, an
    anonymous caller's the public view. A file holding point records (the clusters map's
    cases, the planner's drawn enterprises) is audited with their number."""
    ctx = _page_context(name, request, engine, filters, caller)
    if resolution is not None:
        choices = resolution_choices(name, ctx.public_resolution)
        if resolution not in choices:
            allowed = ", ".join(map(str, choices)) or "无 none"
            raise BadFilterError(
                f"地图 {name} 没有六边形分辨率 {resolution}，可选 {allowed} · "
                f"map {name} has no hexagon resolution {resolution}; choose from {allowed}"
            )
        ctx = replace(ctx, resolution=resolution)
    made = map_file_data(engine, name, ctx, filters, request.app.state.settings)
    html, _font_bytes = build_map_file(name, made.context, made.data, _file_assets(STATIC_DIR))
    body = html.encode("utf-8")
    if len(body) > MAP_FILE_MAX_BYTES:
        size, cap = f"{len(body) / 1e6:.0f} MB", f"{MAP_FILE_MAX_BYTES / 1e6:.0f} MB"
        raise BadFilterError(
            f"地图文件过大（{size}，上限 {cap}）：请选择较小的辖区或较粗的六边形 · "
            f"the map file would be {size} (at most {cap}): pick a smaller jurisdiction "
            "or coarser hexagons"
        )
    if made.records:
        audit_log.record(caller, "read", f"/maps/{name}/file", filters.as_dict(), made.records)
    filename = _file_name(name, filters)
    disposition = f"attachment; filename=\"{filename}\"; filename*=UTF-8''{quote(filename)}"
    return Response(
        body,
        media_type="text/html; charset=utf-8",
        headers={"Content-Disposition": disposition, "Cache-Control": "no-store"},
    )


def _page_context(
    name: str, request: Request, engine: Engine, filters: Filters, caller: Caller
) -> MapContext:
    """What map ``name`` shows ``caller`` for ``filters``: 404 for an unknown map, 401 for
    the planner without an account; the planner's latest draw for an account."""
    if name not in MAPS:
        raise NotFoundError(f"no map {name!r}; choose from {', '.join(MAPS)}")
    public = filters.min_count is not None
    if public and name == "planner":
        raise AuthenticationRequiredError("the planner's map shows risk: log in to see it")
    ctx = replace(
        map_context(request, engine, filters),
        records=caller.authenticated,
        account=caller.authenticated,
        public_resolution=PUBLIC_RESOLUTION if public else None,
    )
    if name == "planner" and caller.authenticated:
        title, markers = latest_draw_markers(engine, filters.jurisdiction)
        if markers:
            ctx = replace(ctx, markers=markers, draw_title=title)
    return ctx


def _file_name(name: str, filters: Filters) -> str:
    """``hexagons-450100-2024.html``: the map and its filters, in ASCII.

    >>> _file_name("hexagons", Filters(jurisdiction="450100", period="2024"))
    'hexagons-450100-2024.html'
    """
    given = [str(v) for v in filters.as_dict().values() if v not in (None, "")]
    return re.sub(r"[^A-Za-z0-9._-]+", "_", "-".join([name, *given])) + ".html"


@cache
def _file_assets(static: Path) -> FileAssets:
    """The scripts, styles and font a map file inlines, read once per process."""
    return FileAssets.from_folder(static)


#: What an H3 cell id looks like (15 hexadecimal digits); h3 overflows on longer text.
_H3_ID = re.compile(r"[0-9a-fA-F]{15}")


def _check_cell(cell: str) -> None:
    if not _H3_ID.fullmatch(cell) or not h3.is_valid_cell(cell):
        raise BadFilterError(f"{cell!r} is not an H3 cell id")
    if h3.get_resolution(cell) not in RESOLUTIONS:
        raise BadFilterError(f"H3 resolution must be {min(RESOLUTIONS)}..{max(RESOLUTIONS)}")


def map_context(request: Request, engine: Engine, filters: Filters) -> MapContext:
    """What a map page needs from the store and the settings.

    The divisions are read each time (small); the industries and months, which scan
    the records, are kept per data version.
    """
    table = read_divisions(engine).table
    if table.empty:
        raise StoreNotReadyError("no jurisdictions are loaded: run geo-service init")
    divisions = tuple(_division(r) for r in table.sort_values("adcode").itertuples())
    bounds = (
        float(table["min_lon"].min()),
        float(table["min_lat"].min()),
        float(table["max_lon"].max()),
        float(table["max_lat"].max()),
    )
    version = data_version(engine)
    cached = getattr(request.app.state, "map_choices", None)
    if cached is None or cached[0] != version:
        cached = (version, _industries(engine), _months(engine))
        request.app.state.map_choices = cached
    given = {k: str(v) for k, v in filters.as_dict().items()}
    return MapContext(
        divisions=divisions,
        industries=cached[1],
        months=cached[2],
        bounds=bounds,
        filter_names=FILTER_NAMES,
        filters=given,
        basemap_url=request.app.state.settings.basemap_url,
    )


def _division(row: Any) -> Division:
    parent = None if pd.isna(row.parent_adcode) else str(row.parent_adcode)
    bbox = (float(row.min_lon), float(row.min_lat), float(row.max_lon), float(row.max_lat))
    point = (float(row.rep_lon), float(row.rep_lat))
    return Division(str(row.adcode), str(row.name), str(row.level), parent, bbox, point)


def _industries(engine: Engine) -> tuple[tuple[str, str], ...]:
    """GB/T 4754 classes in the register and the cases, with the register's usual name."""
    register = read_frame(engine, "enterprises", None, ["industry_code", "industry_name"])
    cases = read_frame(engine, "cases", None, ["industry_code"]).assign(industry_name="")
    codes = pd.concat([register, cases]).dropna(subset=["industry_code"])
    names = (
        codes.fillna({"industry_name": ""})
        .groupby("industry_code")["industry_name"]
        .agg(lambda s: s[s != ""].mode().iloc[0] if (s != "").any() else "")
    )
    return tuple((str(code), str(name)) for code, name in names.items())


def _months(engine: Engine) -> tuple[str, ...]:
    """``YYYY-MM`` from the first to the last case decision."""
    first, last = extent(engine, "cases")["temporal"]["interval"][0]
    if not first or not last:
        return ()
    months = pd.period_range(first[:7], last[:7], freq="M")
    return tuple(str(m) for m in months)
