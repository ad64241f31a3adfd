"""Property-based run of the API against its own OpenAPI document (schemathesis).

Every documented operation is called in-process with generated requests over a copy
of the built sample store, as the public, as the region's admin and as every role of a
county, with valid (positive) and invalid (negative) parameters: no answer may be a
server error, and every answer must be one the document declares (status code, content
type, headers, body schema).
"""

from __future__ import annotations

import sqlite3
from typing import Any

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import Engine

from geo_service.access.policy import add_account
from geo_service.api.app import create_app
from geo_service.core.settings import Settings

#: Generated requests per operation, caller and mode (seeded: the same ones every run).
EXAMPLES = 25
NANNING_TILE = {"z": 8, "x": 205, "y": 111}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def _documented_operations() -> list[tuple[str, str, bool]]:
    """(method, path, takes parameters) of every operation in the app's document (the
    document needs no store, so this runs at collection)."""
    doc = create_app(Settings(database_url="sqlite://")).openapi()
    return [
        (method.upper(), path, bool(op.get("parameters")))
        for path, item in doc["paths"].items()
        for method, op in item.items()
    ]


OPERATIONS = _documented_operations()
CASES = [
    pytest.param(method, path, mode, id=f"{method} {path} {mode}")
    for method, path, has_parameters in OPERATIONS
    for mode in ("positive", "negative")
    if mode == "positive" or has_parameters  # nothing invalid to send without parameters
]


@pytest.fixture(scope="module")
def fuzz_store(built_sample_store: Engine, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A copy of the built sample store (the fuzz adds an account to it), its URL."""
    source = built_sample_store.url.database
    assert source is not None
    target = tmp_path_factory.mktemp("fuzz_store") / "geo.db"
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    return f"sqlite:///{target}"


@pytest.fixture(scope="module")
def api_schema(fuzz_store: str) -> Any:
    """The app's OpenAPI document as schemathesis loads it from the app's /openapi.json;
    the rate limits are off (the fuzz is one caller sending many requests)."""
    settings = Settings(
        database_url=fuzz_store, rate_limit_per_minute=0, tile_rate_limit_per_minute=0
    )
    return schemathesis.openapi.from_asgi("/openapi.json", create_app(settings))


#: Callers besides the public and the region's admin: every role, scoped to a county.
COUNTY_ROLES = ("admin", "leader", "planner", "gis", "inspector")
#: Generated requests per operation and mode for each of those (fewer: five roles).
ROLE_EXAMPLES = 10


@pytest.fixture(scope="module")
def caller_headers(fuzz_store: str) -> dict[str, dict[str, str] | None]:
    """Headers of each caller: ``public`` (none), ``admin`` (the whole region) and
    ``<role>@450102`` for every role."""
    from geo_service.store import make_engine

    engine = make_engine(fuzz_store)
    headers: dict[str, dict[str, str] | None] = {"public": None}
    try:
        key = add_account(engine, "fuzz-admin", "admin", "450000")
        headers["admin"] = {"Authorization": f"Bearer {key}"}
        for role in COUNTY_ROLES:
            key = add_account(engine, f"fuzz-{role}-county", role, "450102")
            headers[f"{role}@450102"] = {"Authorization": f"Bearer {key}"}
    finally:
        engine.dispose()
    return headers


@pytest.fixture(scope="module")
def admin_headers(caller_headers: dict[str, dict[str, str] | None]) -> dict[str, str]:
    headers = caller_headers["admin"]
    assert headers is not None
    return headers


def _fuzz(strategy: Any, headers: dict[str, str] | None, examples: int = EXAMPLES) -> None:
    """Send ``examples`` generated requests and check each answer against the document."""

    @hypothesis.given(case=strategy)
    @hypothesis.settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate, hypothesis.Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case) -> None:
        case.call_and_validate(headers=headers, checks=CHECKS)

    run()


@pytest.mark.parametrize("caller", ["public", "admin", *(f"{r}@450102" for r in COUNTY_ROLES)])
@pytest.mark.parametrize(("method", "path", "mode"), CASES)
def test_operation_answers_as_documented(
    api_schema: Any,
    caller_headers: dict[str, dict[str, str] | None],
    method: str,
    path: str,
    mode: str,
    caller: str,
) -> None:
    operation = api_schema[path][method]
    strategy = operation.as_strategy(generation_mode=schemathesis.GenerationMode(mode))
    examples = EXAMPLES if caller in ("public", "admin") else ROLE_EXAMPLES
    _fuzz(strategy, caller_headers[caller], examples)


@pytest.mark.parametrize("caller", ["public", "admin"])
@pytest.mark.parametrize("path", ["/tiles/{layer}/{z}/{x}/{y}.{fmt}", "/tiles/kde/{z}/{x}/{y}.png"])
def test_tiles_where_the_data_is_answer_as_documented(
    api_schema: Any, admin_headers: dict[str, str], path: str, caller: str
) -> None:
    """Tiles over Nanning (random z/x/y are almost all impossible tiles): every layer and
    format, generated filters and parameters."""
    strategy = api_schema[path]["GET"].as_strategy(path_parameters=NANNING_TILE)
    _fuzz(strategy, admin_headers if caller == "admin" else None)


def test_the_document_declares_json_errors_and_media_types(api_schema: Any) -> None:
    """What the run checks against: errors as 400 JSON ``{code, description}`` (not
    FastAPI's 422), 429 with Retry-After, tiles and files in their media types."""
    doc = api_schema.raw_schema
    assert {"Error", "FeatureCollection", "TileJSON"} <= set(doc["components"]["schemas"])
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    responses = {
        op["operationId"]: op["responses"] for item in doc["paths"].values() for op in item.values()
    }
    assert len(responses) == len(OPERATIONS) >= 20
    error = {"$ref": "#/components/schemas/Error"}
    for op_id, answers in responses.items():
        assert "422" not in answers, op_id
        for status in ("413", "414", "429", "503"):
            assert answers[status]["content"]["application/json"]["schema"] == error, op_id
        assert "Retry-After" in answers["429"]["headers"]
    assert set(responses["items"]) >= {"200", "400", "404"}
    assert "400" not in responses["healthz"] and "404" not in responses["collections"]
    media = {
        op_id: set((answers.get("200") or answers["201"]).get("content", {}))
        for op_id, answers in responses.items()
    }
    assert media["vector_tile"] == {"application/vnd.mapbox-vector-tile", "application/geo+json"}
    assert media["kde_tile"] == {"image/png"} and media["items"] == {"application/geo+json"}
    assert "image/tiff; application=geotiff" in media["download"]
    assert media["download_qgis_project"] == {"application/x-qgis-project"}
    assert {"204", "304"} <= set(responses["vector_tile"]) and "304" in responses["tilejson"]
