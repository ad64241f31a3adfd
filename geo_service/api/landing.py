"""The landing page (the OGC landing document, or an HTML page for browsers) and /docs.

The HTML page lists every map, layer, download and ledger; for anonymous visitors each
link that needs an account carries :data:`~geo_service.api.pages.LOCK_MARK`, so that
nobody follows a link into a 401 unwarned, and the corner offers the sign-in (or names
the signed-in account, with a sign-out button). ``/docs`` is Swagger UI from
``/static`` (no CDN).
"""

from __future__ import annotations

from html import escape
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import Engine

from geo_service.api.dependencies import Caller, get_caller, get_engine
from geo_service.api.features import COLLECTIONS, LAYER_TITLES
from geo_service.api.pages import LOCK_MARK, account_bar, html_page, page_target
from geo_service.builds.exports import EXPORTABLE
from geo_service.disclosure.lattice import ACCOUNT_ONLY
from geo_service.store.models import RECORD_TABLES
from layers.maps import MAPS

SWAGGER = "/static/vendor/swagger-ui-dist"
_DOWNLOAD_FORMATS = ("geojson", "gpkg", "csv", "xlsx")
#: Layers anonymous callers never get: point records and the enterprises' risk.
ACCOUNT_LAYERS = frozenset({*RECORD_TABLES, *ACCOUNT_ONLY})
#: Maps anonymous callers never get (the planner's shows risk).
ACCOUNT_MAPS = frozenset({"planner"})

router = APIRouter()


@router.get("/", operation_id="landing", response_model=None)
def landing(
    request: Request,
    f: str | None = None,
    caller: Caller = Depends(get_caller),
    engine: Engine = Depends(get_engine),
) -> Response | dict[str, Any]:
    """The OGC API landing document (JSON), or for browsers (``Accept: text/html`` or
    ``?f=html``) the landing page: the overview map and every map, layer, download,
    ledger and the API docs, links that need an account marked for visitors."""
    # absolute: QGIS's OAPIF provider follows these links and does not resolve relative ones
    base = str(request.base_url).rstrip("/")
    links = [{**link, "href": base + link["href"]} for link in landing_links()]
    wants_html = f == "html" or (f is None and "text/html" in request.headers.get("accept", ""))
    if wants_html:
        corner = account_bar(engine, caller, page_target(request))
        return HTMLResponse(landing_page(links, corner, anonymous=not caller.authenticated))
    return {
        "title": "geo-service",
        "description": "Environmental-enforcement records and analytics",
        "links": links,
    }


@router.get("/docs", include_in_schema=False)
def docs(_caller: Caller = Depends(get_caller)) -> HTMLResponse:
    """Swagger UI over /openapi.json, every asset from /static (works offline)."""
    return get_swagger_ui_html(
        openapi_url="/openapi.json",
        title="geo-service 接口文档 API docs",
        swagger_js_url=f"{SWAGGER}/swagger-ui-bundle.js",
        swagger_css_url=f"{SWAGGER}/swagger-ui.css",
        swagger_favicon_url=f"{SWAGGER}/favicon-32x32.png",
        swagger_ui_parameters={"validatorUrl": None},  # no call to validator.swagger.io
    )


def landing_links() -> list[dict[str, str]]:
    """The OGC landing document's links (paths; the route makes them absolute)."""
    return [
        {"href": "/healthz", "rel": "status", "type": "application/json", "title": "Status"},
        {
            "href": "/openapi.json",
            "rel": "service-desc",
            "type": "application/vnd.oai.openapi+json;version=3.0",
            "title": "OpenAPI",
        },
        {"href": "/docs", "rel": "service-doc", "type": "text/html", "title": "API docs"},
        {
            "href": "/conformance",
            "rel": "conformance",
            "type": "application/json",
            "title": "Conformance",
        },
        {
            "href": "/collections",
            "rel": "data",
            "type": "application/json",
            "title": "图层 Collections",
        },
    ]


#: A listed link: address, title, a note, and whether it needs an account.
Item = tuple[str, str, str, bool]


_BY_CITY = "按市、月 by city and month"


def _ledger_items() -> list[Item]:
    """The ledgers: by city or county, and the commonalities', need an account
    (:mod:`geo_service.api.stats`); by month is the public view's."""
    return [
        ("/stats/cases", "处罚案件台账 Case ledger (JSON)", "按市、月 by city and month", True),
        (
            "/stats/cases.xlsx",
            "处罚案件台账 Case ledger (XLSX)",
            "按市、月 by city and month",
            True,
        ),
        (
            "/stats/cases?group_by=month",
            "处罚案件台账 Case ledger (JSON)",
            "按月，全区公开视图 by month, public view",
            False,
        ),
        (
            "/stats/inspections",
            "现场检查台账 Inspection ledger (JSON)",
            _BY_CITY,
            True,
        ),
        (
            "/stats/inspections.xlsx",
            "现场检查台账 Inspection ledger (XLSX)",
            _BY_CITY,
            True,
        ),
        (
            "/stats/commonalities.xlsx?group_by=county",
            "问题类型共性与差异台账 Commonalities and differences (XLSX)",
            "按县区 by county",
            True,
        ),
    ]


def _link_list(items: list[Item], anonymous: bool) -> str:
    rows = "".join(
        f'<li><a href="{escape(href)}">{escape(title)}</a>'
        + (f" <span>{escape(note)}</span>" if note else "")
        + (f" {LOCK_MARK}" if locked and anonymous else "")
        + "</li>"
        for href, title, note, locked in items
    )
    return f"<ul>{rows}</ul>"


def _downloads_table(anonymous: bool) -> str:
    head = "".join(f"<th>{f.upper()}</th>" for f in _DOWNLOAD_FORMATS)
    rows = []
    for layer in EXPORTABLE:
        cells = "".join(
            f'<td><a href="/downloads/{escape(layer)}.{f}">{f}</a></td>' for f in _DOWNLOAD_FORMATS
        )
        mark = f" {LOCK_MARK}" if anonymous and layer in ACCOUNT_LAYERS else ""
        title = escape(LAYER_TITLES.get(layer, layer))
        rows.append(f"<tr><th>{title}{mark}</th>{cells}</tr>")
    extra = (
        '<p><a href="/downloads/kde.tif">案件核密度 GeoTIFF (kde.tif)</a> · '
        '<a href="/downloads/project.qgs">QGIS 工程 QGIS project (project.qgs)</a></p>'
    )
    return f'<table class="dl"><tr><th>图层 Layer</th>{head}</tr>{"".join(rows)}</table>{extra}'


def landing_page(links: list[dict[str, str]], corner: str, *, anonymous: bool) -> str:
    """The landing page for browsers: the overview map and links to every map, layer,
    download, ledger and the API docs (Chinese with English); ``corner`` is the account
    line (:func:`~geo_service.api.pages.account_bar`); for ``anonymous`` visitors the
    links that need an account are marked."""
    maps = [
        (f"/maps/{n}", f"{s.title} {s.subtitle}", s.description, n in ACCOUNT_MAPS)
        for n, s in MAPS.items()
    ]
    layers = [
        (f"/collections/{c}/items", LAYER_TITLES.get(c, c), c, c in ACCOUNT_LAYERS)
        for c in COLLECTIONS
    ]
    api = [
        (link["href"], link.get("title", link["rel"]), link.get("type", ""), False)
        for link in links
    ]
    legend = (
        f"<p>{LOCK_MARK}：登录后可用；未登录时只提供省级汇总的公开视图。 "
        "Marked links need an account; visitors get the public province-level view.</p>"
        if anonymous
        else ""
    )
    body = (
        f"{corner}<h1>生态环境执法地图 Environmental enforcement maps</h1>"
        "<p>处罚案件、现场检查与污染源的空间分析 · Penalty cases, inspection findings and the "
        f"pollution-source register on the map.</p>{legend}"
        '<iframe src="/maps/heatmap" title="总览：案件密度 Overview: case density"></iframe>'
        '<p><a href="/dashboard">领导驾驶舱 Leadership dashboard</a> <span>指标、地图和图表，'
        "从省下钻到市、县 KPIs, map and charts, province to city to county</span></p>"
        f"<h2>地图 Maps</h2>{_link_list(maps, anonymous)}"
        f"<h2>图层 Layers (OGC API - Features)</h2>{_link_list(layers, anonymous)}"
        f"<h2>下载 Downloads</h2>{_downloads_table(anonymous)}"
        f"<h2>统计台账 Statistics ledgers</h2>{_link_list(_ledger_items(), anonymous)}"
        f"<h2>接口 API</h2>{_link_list(api, anonymous)}"
        '<p><a href="/docs">接口文档 API docs</a></p>'
    )
    return html_page("生态环境执法地图 geo-service", body)
