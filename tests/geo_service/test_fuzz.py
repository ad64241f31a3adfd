"""Property-based run of the API against its own OpenAPI document (schemathesis).

Every documented operation is called in-process with generated requests over a copy
of the built sample store, as the public and as an admin, with valid (positive) and
invalid (negative) parameters: no answer may be a server error, and every answer must
be one the document declares (status code, content type, headers, body schema).
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

from geo_service.access import add_account
from geo_service.app import create_app
from geo_service.settings import Settings

#: Generated requests per operation, caller and mode (seeded: the same ones every run).
EXAMPLES = 15
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance]  # fmt: skip


def _documented_operations() -> list[tuple[str, str, bool]]:
    """(method, path, takes parameters) of every operation in the app's document (the
    document needs no store, so this runs at collection)."""
    doc = create_app(Settings(database_url="sqlite://")).openapi()
    return [(method.upper(), path, bool(op.get("parameters")))
            for path, item in doc["paths"].items() for method, op in item.items()]  # fmt: skip


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
    settings = Settings(database_url=fuzz_store, rate_limit_per_minute=0,
                        tile_rate_limit_per_minute=0)  # fmt: skip
    return schemathesis.openapi.from_asgi("/openapi.json", create_app(settings))


@pytest.fixture(scope="module")
def admin_headers(fuzz_store: str) -> dict[str, str]:
    from geo_service.store import make_engine

    engine = make_engine(fuzz_store)
    try:
        key = add_account(engine, "fuzz-admin", "admin", "450000")
    finally:
        engine.dispose()
    return {"Authorization": f"Bearer {key}"}


@pytest.mark.parametrize("caller", ["public", "admin"])
@pytest.mark.parametrize(("method", "path", "mode"), CASES)
def test_operation_answers_as_documented(
    api_schema: Any,
    admin_headers: dict[str, str],
    method: str,
    path: str,
    mode: str,
    caller: str,
) -> None:
    operation = api_schema[path][method]
    headers = admin_headers if caller == "admin" else None
    strategy = operation.as_strategy(generation_mode=schemathesis.GenerationMode(mode))

    @hypothesis.given(case=strategy)
    @hypothesis.settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate, hypothesis.Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case) -> None:
        case.call_and_validate(headers=headers, checks=CHECKS)

    run()


def test_the_run_covers_every_route_of_the_app(api_schema: Any) -> None:
    """Every route the app serves (but /docs and /static) is in the document fuzzed."""
    app = api_schema.app
    served = {(m, r.path) for r in app.routes for m in getattr(r, "methods", ()) or ()}
    served -= {(m, p) for m, p in served if m == "HEAD" or p in ("/docs", "/openapi.json")}
    documented = {(method, path) for method, path, _ in OPERATIONS}
    assert served == documented
    assert len(documented) >= 20
