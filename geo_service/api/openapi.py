"""The OpenAPI document as the service answers: JSON errors, media types and tile statuses.

FastAPI documents a 422 validation error and a JSON 200 for every route; the service
answers errors with ``{"code", "description"}`` and the status of the one error table
(:mod:`geo_service.core.errors`), files and tiles in their own media types, and empty or
unchanged tiles with 204 and 304. :func:`document_as_served` rewrites the generated
document to say so, in one place, keyed by the routes' stable ``operationId``.
"""

from __future__ import annotations

from typing import Any, Final

from fastapi import FastAPI

from geo_service.api.downloads import FORMATS, QGS
from geo_service.api.draws import DRAW_FILES
from geo_service.api.features import COLLECTIONS
from geo_service.api.ogc_tiles import STYLE, TILED, TMS_ID
from geo_service.api.openapi_sections import describe_sections
from geo_service.api.stats import XLSX
from geo_service.api.tiles import GEOJSON, JSON, MVT, PNG
from geo_service.builds.exports import EXPORTABLE
from layers.maps import MAPS

HTML: Final = "text/html"
_REF = "#/components/schemas/"
_BINARY: Final = {"type": "string", "format": "binary"}
_OBJECT: Final = {"type": "object"}

#: The body of every error answer.
ERROR_SCHEMA: Final = {
    "title": "Error",
    "type": "object",
    "required": ["code", "description"],
    "properties": {
        "code": {"type": "string", "description": "machine-readable reason (bad_filter …)"},
        "description": {"type": "string", "description": "what was wrong, for people"},
    },
}
_FEATURE: Final = {
    "title": "Feature",
    "type": "object",
    "required": ["type", "geometry", "properties"],
    "properties": {
        "type": {"type": "string", "enum": ["Feature"]},
        "id": {"type": "string"},
        "geometry": {"type": ["object", "null"]},
        "properties": {"type": ["object", "null"]},
    },
}
_FEATURE_COLLECTION: Final = {
    "title": "FeatureCollection",
    "type": "object",
    "required": ["type", "features"],
    "properties": {
        "type": {"type": "string", "enum": ["FeatureCollection"]},
        "features": {"type": "array", "items": {"$ref": _REF + "Feature"}},
        "numberMatched": {"type": "integer", "minimum": 0},
        "numberReturned": {"type": "integer", "minimum": 0},
        "links": {"type": "array", "items": {"type": "object"}},
    },
}
_TILEJSON: Final = {
    "title": "TileJSON",
    "type": "object",
    "required": ["tilejson", "tiles"],
    "properties": {
        "tilejson": {"type": "string"},
        "tiles": {"type": "array", "items": {"type": "string"}, "minItems": 1},
        "minzoom": {"type": "integer"},
        "maxzoom": {"type": "integer"},
        "bounds": {"type": "array", "items": {"type": "number"}},
    },
}
SCHEMAS: Final = {
    "Error": ERROR_SCHEMA,
    "Feature": _FEATURE,
    "FeatureCollection": _FEATURE_COLLECTION,
    "TileJSON": _TILEJSON,
}

#: Why each status of the error table is answered.
ERROR_STATUSES: Final = {
    400: "A parameter or filter that cannot be understood (`bad_parameter`, `bad_filter` …)",
    401: "No valid credentials where an account is needed",
    403: "Outside what the account's role or jurisdiction covers",
    404: "No such layer, feature, map, format or tile",
    413: "The request body is larger than the service accepts",
    414: "The query string is longer than the service reads",
    429: "Too many requests from this API key or address; see Retry-After",
    503: "The store is not ready or not reachable",
}
_RETRY_AFTER: Final = {
    "Retry-After": {
        "description": "seconds to wait before asking again",
        "schema": {"type": "integer", "minimum": 1},
    }
}

_JSON_TYPES: Final = {"application/json", GEOJSON, "application/schema+json", STYLE}
#: operationId → media types of its 200 answer and the schema of its JSON body (the rest
#: keep FastAPI's JSON 200).
ANSWERS: Final[dict[str, dict[str, str]]] = {
    "items": {GEOJSON: "FeatureCollection"},
    "item": {GEOJSON: "Feature"},
    "queryables": {"application/schema+json": ""},
    "kde_tilejson": {JSON: "TileJSON"},
    "tilejson": {JSON: "TileJSON"},
    "kde_legend": {JSON: "", PNG: ""},
    "kde_tile": {PNG: ""},
    "vector_tile": {MVT: "", GEOJSON: "FeatureCollection"},
    "collection_tile": {MVT: "", GEOJSON: "FeatureCollection", PNG: ""},
    "tile_style": {STYLE: ""},
    "download": {
        media: "FeatureCollection" if media == GEOJSON else "" for _, media in FORMATS.values()
    },
    "download_qgis_project": {QGS: ""},
    "stats_xlsx": {XLSX: ""},
    "map_page": {HTML: ""},
    "field_page": {HTML: ""},
    "landing": {JSON: "", HTML: ""},
    "draw_file": {JSON: "", XLSX: "", HTML: ""},
}
#: Answers besides 200 and the errors: an empty tile, a client's copy that is current.
OTHER_STATUSES: Final = {
    "kde_tile": {204: "No data in this tile", 304: "The client's copy is current (ETag)"},
    "vector_tile": {204: "No data in this tile", 304: "The client's copy is current (ETag)"},
    "kde_tilejson": {304: "The client's copy is current (ETag)"},
    "tilejson": {304: "The client's copy is current (ETag)"},
    "collection_tile": {204: "No data in this tile", 304: "The client's copy is current (ETag)"},
    "kde_legend": {304: "The client's copy is current (ETag)"},
    "logout": {303: "Session revoked and its cookie cleared; to the landing page"},
    "logout_post": {303: "Session revoked and its cookie cleared; to the landing page"},
    "login_form": {303: "Session started (its cookie set); to `next`"},
}
#: Answers besides the errors' with a JSON body: operationId → status → (why, schema name).
JSON_STATUSES: Final[dict[str, dict[int, tuple[str, str]]]] = {
    "draw_create": {
        200: ("This jurisdiction, quarter and seed were drawn before: the stored draw", ""),
        409: ("Another record is stored for this jurisdiction, quarter and seed", "Error"),
    },
}
#: Path parameters naming one of a fixed list: (operationId, parameter) → the list.
PATH_CHOICES: Final[dict[tuple[str, str], tuple[str, ...]]] = {
    **{(op, "collection_id"): COLLECTIONS for op in ("collection", "items", "queryables", "item")},
    ("tilejson", "layer"): COLLECTIONS,
    **{
        (op, "collection_id"): TILED
        for op in ("collection_tilesets", "collection_tileset", "collection_tile")
    },
    **{
        (op, "tile_matrix_set"): (TMS_ID,)
        for op in ("tile_matrix_set", "collection_tileset", "collection_tile")
    },
    ("tile_style", "layer"): COLLECTIONS,
    ("kde_legend", "fmt"): ("json", "png"),
    ("download", "layer"): EXPORTABLE,
    ("download", "ext"): tuple(FORMATS),
    ("stats", "kind"): ("cases", "inspections"),
    ("stats_xlsx", "kind"): ("cases", "inspections"),
    ("map_page", "name"): tuple(MAPS),
    ("draw_file", "fmt"): DRAW_FILES,
}
#: The forms of the service-wide filters (:class:`geo_service.core.filters.Filters` checks them).
FILTER_FORMATS: Final[dict[str, dict[str, str]]] = {
    "jurisdiction": {"pattern": "^[0-9]{6}$"},
    "industry": {"pattern": "^[A-Za-z][0-9]{0,4}$"},
    "period": {"pattern": "^[0-9]{4}(-([Qq][1-4]|[0-9]{2}))?$"},
    "start": {"format": "date"},
    "end": {"format": "date"},
}
#: Error answers that are pages, not JSON (the browser log-in form).
HTML_ERRORS: Final = {"login": (400,), "login_form": (400, 401)}


def _content(media: str, schema_name: str) -> dict[str, Any]:
    if schema_name:
        return {"schema": {"$ref": _REF + schema_name}}
    return {"schema": dict(_OBJECT if media in _JSON_TYPES else _BINARY)}


def _error_statuses(operation: dict[str, Any]) -> list[int]:
    """The error statuses an operation can answer: every one of the table, but 400 only
    with parameters and 404 only with path parameters."""
    places = {p.get("in") for p in operation.get("parameters", [])}
    skip = ({400} if not places and "requestBody" not in operation else set()) | (
        {404} if "path" not in places else set()
    )
    return [status for status in ERROR_STATUSES if status not in skip]


def _string_schema(parameter: dict[str, Any]) -> dict[str, Any]:
    """The string branch of a parameter's schema (FastAPI writes ``anyOf`` with null)."""
    schema: dict[str, Any] = parameter.setdefault("schema", {"type": "string"})
    for branch in schema.get("anyOf", ()):
        if branch.get("type") == "string":
            return dict(branch)
    return schema


def _document_parameters(operation: dict[str, Any]) -> None:
    """Fixed lists of path parameters as enums, the filters' forms as patterns."""
    op_id = operation.get("operationId", "")
    for parameter in operation.get("parameters", []):
        name, place = parameter.get("name", ""), parameter.get("in")
        if place == "path" and (op_id, name) in PATH_CHOICES:
            parameter["schema"] = {"type": "string", "enum": list(PATH_CHOICES[op_id, name])}
        elif place == "query" and name in FILTER_FORMATS:
            schema = {**_string_schema(parameter), "type": "string", **FILTER_FORMATS[name]}
            parameter["schema"] = schema


def _document_operation(operation: dict[str, Any]) -> None:
    """Rewrite one operation's parameters and responses in place."""
    _document_parameters(operation)
    responses: dict[str, Any] = operation.setdefault("responses", {})
    responses.pop("422", None)
    op_id = operation.get("operationId", "")
    if op_id in ANSWERS:  # the route's own schema of a media type is kept
        ok = responses.setdefault("200", {"description": "Successful Response"})
        given = ok.get("content", {})
        ok["content"] = {
            m: given[m] if given.get(m, {}).get("schema") else _content(m, s)
            for m, s in ANSWERS[op_id].items()
        }
    for status, description in OTHER_STATUSES.get(op_id, {}).items():
        responses.setdefault(str(status), {"description": description})
    for status, (why, schema) in JSON_STATUSES.get(op_id, {}).items():
        responses.setdefault(
            str(status), {"description": why, "content": {JSON: _content(JSON, schema)}}
        )
    pages = HTML_ERRORS.get(op_id, ())
    for status in sorted({*_error_statuses(operation), *pages}):
        answer = responses.setdefault(str(status), {"description": ERROR_STATUSES[status]})
        if status in pages:
            answer["content"] = {HTML: {"schema": dict(_BINARY)}}
        else:
            answer.setdefault("content", {JSON: {"schema": {"$ref": _REF + "Error"}}})
        if status == 429:
            answer.setdefault("headers", dict(_RETRY_AFTER))


#: OGC API - Features names the collection's path parameter ``collectionId``; GDAL's
#: OAPIF driver finds the items path (and pushes filters when it declares ``filter``
#: and ``filter-lang``) by that name. The same URLs, documented by the standard's name.
_OGC_NAMES: Final = {
    "collection_id": "collectionId",
    "tile_matrix_set": "tileMatrixSetId",
    "tile_matrix": "tileMatrix",
    "tile_row": "tileRow",
    "tile_col": "tileCol",
}


def _ogc_path(path: str) -> str:
    for ours, theirs in _OGC_NAMES.items():
        path = path.replace("{" + ours + "}", "{" + theirs + "}")
    return path


def document_as_served(doc: dict[str, Any]) -> dict[str, Any]:
    """The generated OpenAPI document rewritten to what the service answers (in place)."""
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    schemas.update(SCHEMAS)
    for path_item in doc.get("paths", {}).values():
        for operation in path_item.values():
            _document_operation(operation)
            for parameter in operation.get("parameters", []):
                if parameter.get("in") == "path":
                    parameter["name"] = _OGC_NAMES.get(parameter["name"], parameter["name"])
    doc["paths"] = {_ogc_path(path): item for path, item in doc.get("paths", {}).items()}
    return describe_sections(doc)  # tags, security schemes and descriptions


def use_served_openapi(app: FastAPI) -> None:
    """Serve :func:`document_as_served` of the app's generated document at /openapi.json."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_as_served(FastAPI.openapi(app))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
