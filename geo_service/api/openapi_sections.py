"""The OpenAPI document's sections, credentials and descriptions, in one place.

- **Tags**: every operation is tagged by its path (:data:`SECTIONS`, longest prefix
  first), so a new route is filed under its resource without its author naming a tag;
  a path under no listed prefix gets its first segment as a tag, which
  ``tests/geo_service/api/test_openapi_sections.py`` then asks to be described here.
- **Security schemes**: the credentials :func:`geo_service.api.dependencies.credentials_of`
  reads — ``Authorization: Bearer <key>``, ``X-API-Key``, HTTP Basic with the key as the
  password (GDAL 3.6, QGIS) and the ``geo_session`` cookie set by ``POST /login``.
  Operations that need an account list them; those that serve anonymous callers a
  public view list them beside ``{}`` (none); the log-in, health and fixed documents
  list none. Writes always need an account.
- **Descriptions**: an operation whose handler has no docstring takes its text from
  :data:`DESCRIPTIONS`; 401 and 403 answers are documented as JSON or, for browsers,
  the sign-in page (:mod:`geo_service.api.error_pages`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Literal

from geo_service.api.dependencies import SESSION_COOKIE

Account = Literal["none", "optional", "required"]

#: The credentials the service reads (:func:`~geo_service.api.dependencies.credentials_of`).
SECURITY_SCHEMES: Final[dict[str, dict[str, str]]] = {
    "bearerKey": {
        "type": "http",
        "scheme": "bearer",
        "description": "API 密钥 The account's API key: `Authorization: Bearer <key>` "
        "(`geo-service users add` prints it once)",
    },
    "apiKeyHeader": {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "The same API key in the `X-API-Key` header",
    },
    "basicKey": {
        "type": "http",
        "scheme": "basic",
        "description": "For GIS clients without a bearer option (GDAL 3.6, QGIS): any "
        "user name, the API key as the password",
    },
    "sessionCookie": {
        "type": "apiKey",
        "in": "cookie",
        "name": SESSION_COOKIE,
        "description": "The browser session `POST /login` starts (HttpOnly, 12 h); an "
        "ended session is served as anonymous",
    },
}
_ANY_CREDENTIAL: Final[list[dict[str, list[str]]]] = [{name: []} for name in SECURITY_SCHEMES]


@dataclass(frozen=True)
class Section:
    """A tag: the paths it files, what it is, and whether its reads need an account."""

    tag: str
    prefixes: tuple[str, ...]
    description: str
    account: Account = "optional"


#: The resources of the service, as Swagger UI groups them (in this order).
SECTIONS: Final = (
    Section(
        "service",
        ("/healthz", "/conformance"),
        "服务 The landing document, conformance classes and health",
        "none",
    ),
    Section(
        "tiles",
        ("/tiles", "/tileMatrixSets", "/styles", "/collections/{collectionId}/tiles"),
        "瓦片 Vector tiles (MVT, GeoJSON), heat raster tiles, TileJSON, OGC API - Tiles "
        "and map styles; filters as query parameters, the caller's scope applied",
    ),
    Section(
        "collections",
        ("/collections",),
        "图层 OGC API - Features: the records (point records need an account) and every "
        "analytic layer, with paging, filters and CRS",
    ),
    Section(
        "maps",
        ("/maps",),
        "地图 Interactive maps for browsers with no internet, and what a click shows",
    ),
    Section(
        "downloads",
        ("/downloads",),
        "下载 Layers as GeoJSON, GeoPackage, CSV, XLSX and GeoTIFF, a QGIS project, and "
        "offline MBTiles and PMTiles packages of their vector tiles",
    ),
    Section(
        "stats",
        ("/stats",),
        "统计台账 Ledgers by area, industry and time (by city or county: accounts only)",
    ),
    Section(
        "dashboard",
        ("/dashboard",),
        "领导驾驶舱 The leaders' dashboard, drawn from the ledgers the caller may read",
    ),
    Section(
        "briefs",
        ("/briefs",),
        "简报 Printable briefings of a jurisdiction (accounts only)",
        "required",
    ),
    Section(
        "enterprises",
        ("/enterprises",),
        "一源一档 The pollution-source file and the register search (accounts only)",
        "required",
    ),
    Section(
        "draws and plans",
        ("/draws", "/plans"),
        "双随机 The audited inspection draw and the inspection plan (accounts only)",
        "required",
    ),
    Section(
        "field",
        ("/field",),
        "现场检查 The field page and the findings inspectors submit from it (accounts "
        "that write findings only)",
        "required",
    ),
    Section(
        "ingest",
        ("/ingest",),
        "数据导入 Files loaded over HTTP by admins, their batches and rejected rows",
        "required",
    ),
    Section(
        "quality",
        ("/quality",),
        "数据质量 The data-quality report of a jurisdiction or a batch (accounts only)",
        "required",
    ),
    Section(
        "accounts",
        ("/login", "/logout", "/audit"),
        "账号 Browser sign-in and sign-out (a session cookie) and the audit log",
        "required",
    ),
)
#: Operations whose need for an account differs from their section's.
ACCOUNT_OF: Final[dict[str, Account]] = {
    "landing": "optional",  # the page names the signed-in account
    "tile_matrix_sets": "none",  # the grid's definition: no data
    "tile_matrix_set": "none",
    "login": "none",  # the key comes in the form, not as a credential
    "login_form": "none",
    "logout": "optional",  # ends the session of the cookie, if any
    "logout_post": "optional",
}
_WRITES: Final = frozenset({"post", "put", "patch", "delete"})
_EXEMPT_WRITES: Final = frozenset({"login_form", "logout_post"})

#: Descriptions of operations whose handlers carry no docstring.
DESCRIPTIONS: Final[dict[str, str]] = {
    "healthz": "Whether the store answers, and its data version (503 when it does not).",
    "conformance": "The OGC API conformance classes the service implements (Features "
    "Parts 1, 2, 3, 6 and 8; Tiles).",
    "collections": "Every collection: the records, the jurisdictions and the analytic "
    "layers, each with its extent (the divisions' box and whole years) and links.",
    "collection": "One collection: title, extent, CRS, item and tile links.",
    "items": "A page of a collection's features (GeoJSON) within the caller's scope: "
    "`limit`, `offset`/`after` paging, `bbox`, `datetime`, the service-wide filters, "
    "property filters, CQL2 `filter`, `sortby`, `properties`, `crs`. Point records need "
    "an account; anonymous callers get the public view of aggregate layers.",
    "queryables": "The properties a filter may name, with their JSON types and titles.",
    "item": "One feature by its id, within the caller's scope (404 outside it).",
    "kde_tilejson": "TileJSON of the heat raster (kernel density of cases) for the filters.",
    "kde_legend": "The heat raster's colour classes for the filters, as JSON or a PNG.",
    "kde_tile": "A 256 px PNG tile of the kernel density of cases (204 when empty).",
    "tilejson": "TileJSON 3.0 of a layer's vector tiles for the filters.",
    "vector_tile": "A layer's vector tile (MVT or GeoJSON) for the filters; crowded tiles "
    "of point records carry aggregated points (204 when empty).",
    "tile_matrix_sets": "The tile matrix sets served (WebMercatorQuad).",
    "tile_matrix_set": "The WebMercatorQuad tile matrix set (OGC TMS 2.0, with 1.0 members).",
    "collection_tilesets": "A collection's tile sets (vector, or map for kde).",
    "collection_tileset": "A tile set's metadata: URL template, layer fields and limits.",
    "stats": "A ledger as JSON: cases or inspections grouped by city, county, industry, "
    "month or year, or the commonalities ledger; by city or county it needs an account.",
}


def section_of(path: str) -> Section:
    """The section of a path: its longest matching prefix, else one named after its
    first segment (undescribed: the test asks for an entry in :data:`SECTIONS`)."""
    if path == "/":
        return SECTIONS[0]
    matches = [
        (len(prefix), section)
        for section in SECTIONS
        for prefix in section.prefixes
        if path == prefix
        or path.startswith(prefix.rstrip("/") + "/")
        or path.startswith(prefix + ".")
    ]
    if matches:
        return max(matches, key=lambda m: m[0])[1]
    return Section(path.strip("/").split("/")[0].split(".")[0] or "service", (), "")


def _security(op_id: str, method: str, section: Section) -> list[dict[str, list[str]]]:
    account = ACCOUNT_OF.get(op_id, section.account)
    if method in _WRITES and op_id not in _EXEMPT_WRITES:
        account = "required"
    if account == "none":
        return []
    return list(_ANY_CREDENTIAL) if account == "required" else [{}, *_ANY_CREDENTIAL]


_PAGE_NOTE: Final = (
    "; browsers (`Accept` preferring `text/html`) get a page in Chinese and English "
    "with a sign-in link leading back"
)


def _document_refusals(operation: dict[str, Any]) -> None:
    """401 and 403 answer JSON, or the sign-in page for browsers."""
    for status in ("401", "403"):
        answer = operation.get("responses", {}).get(status)
        if answer is None or "text/html" in answer.get("content", {}):
            continue
        answer["description"] = answer.get("description", "") + _PAGE_NOTE
        answer.setdefault("content", {})["text/html"] = {"schema": {"type": "string"}}


def describe_sections(doc: dict[str, Any]) -> dict[str, Any]:
    """Tags, security and descriptions on every operation of ``doc`` (in place)."""
    doc.setdefault("components", {})["securitySchemes"] = dict(SECURITY_SCHEMES)
    used: dict[str, Section] = {}
    for path, item in doc.get("paths", {}).items():
        section = section_of(path)
        used[section.tag] = section
        for method, operation in item.items():
            op_id = operation.get("operationId", "")
            operation["tags"] = [section.tag]
            if not (operation.get("description") or "").strip() and op_id in DESCRIPTIONS:
                operation["description"] = DESCRIPTIONS[op_id]
            operation["security"] = _security(op_id, method, section)
            if operation["security"]:
                _document_refusals(operation)
    doc["tags"] = [
        {"name": s.tag, "description": s.description}
        for s in (*SECTIONS, *(u for u in used.values() if u not in SECTIONS))
        if s.tag in used
    ]
    return doc
