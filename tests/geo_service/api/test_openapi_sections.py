"""The OpenAPI document as /docs shows it: every operation tagged and described, and the
security schemes exactly the credentials the service accepts, each of them working."""

from __future__ import annotations

import base64
from typing import Any
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from geo_service.access.policy import add_account
from geo_service.api.app import create_app
from geo_service.api.openapi_sections import SECTIONS, section_of
from geo_service.core.settings import Settings

#: An account-only read: 401 anonymous, 200 with any working credential.
POINTS = "/collections/cases/items?limit=1"
#: What :func:`geo_service.api.dependencies.credentials_of` reads, as OpenAPI says it.
ACCEPTED = {
    ("http", "bearer", None),
    ("http", "basic", None),
    ("apiKey", "header", "x-api-key"),
    ("apiKey", "cookie", "geo_session"),
}


@pytest.fixture(scope="module")
def doc(sqlite_store: Engine) -> dict[str, Any]:
    url = sqlite_store.url.render_as_string(hide_password=False)
    document: dict[str, Any] = (
        TestClient(create_app(Settings(database_url=url))).get("/openapi.json").json()
    )
    return document


def _operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in doc["paths"].items()
        for method, operation in item.items()
    ]


def test_every_operation_has_a_described_tag_and_a_description(doc: dict[str, Any]) -> None:
    tags = {t["name"]: t.get("description", "") for t in doc["tags"]}
    assert all(tags.values()), f"tags without a description: {tags}"
    operations = _operations(doc)
    assert len(operations) > 40
    for method, path, operation in operations:
        where = f"{method} {path}"
        assert operation.get("tags"), where
        assert "default" not in operation["tags"], where
        assert set(operation["tags"]) <= set(tags), f"{where}: undescribed tag {operation['tags']}"
        assert operation.get("description", "").strip(), f"{where} has no description"
        assert operation.get("summary", "").strip(), f"{where} has no summary"
    # the resources a reader looks for each have their section
    used = {t for _, _, op in operations for t in op["tags"]}
    assert {"collections", "tiles", "maps", "stats", "downloads", "enterprises"} <= used
    assert {"draws and plans", "accounts", "ingest", "quality"} <= used


def test_the_security_schemes_are_the_credentials_the_service_reads(
    doc: dict[str, Any],
) -> None:
    schemes = doc["components"]["securitySchemes"]
    declared = {
        (s["type"], s.get("scheme", s.get("in")), s.get("name", "").lower() or None)
        for s in schemes.values()
    }
    assert declared == ACCEPTED
    names = set(schemes)
    for method, path, operation in _operations(doc):
        for requirement in operation["security"]:
            assert set(requirement) <= names, f"{method} {path}"


def test_operations_that_need_an_account_say_so(doc: dict[str, Any]) -> None:
    by_id = {op["operationId"]: op for _, _, op in _operations(doc)}
    for op_id in ("audit_log", "draw_list", "plan", "enterprise_file", "quality_report"):
        security = by_id[op_id]["security"]
        assert security and {} not in security, op_id
        assert "text/html" in by_id[op_id]["responses"]["401"]["content"], op_id
    for op_id in ("items", "vector_tile", "map_page", "download", "stats", "landing"):
        assert {} in by_id[op_id]["security"] and len(by_id[op_id]["security"]) > 1, op_id
    for op_id in ("healthz", "login", "login_form", "conformance"):
        assert by_id[op_id]["security"] == [], op_id
    writes = [op for m, _, op in _operations(doc) if m in ("POST", "PUT", "PATCH", "DELETE")]
    for op in writes:
        if op["operationId"] not in ("login_form", "logout_post"):
            assert op["security"] and {} not in op["security"], op["operationId"]


def _credentials(scheme: dict[str, Any], key: str, session: str) -> dict[str, Any]:
    """A request's headers and cookies as the scheme describes them."""
    if scheme["type"] == "http" and scheme["scheme"] == "bearer":
        return {"headers": {"Authorization": f"Bearer {key}"}}
    if scheme["type"] == "http" and scheme["scheme"] == "basic":
        token = base64.b64encode(f"gis:{key}".encode()).decode()
        return {"headers": {"Authorization": f"Basic {token}"}}
    if scheme["in"] == "header":
        return {"headers": {scheme["name"]: key}}
    assert scheme["in"] == "cookie"
    return {"cookies": {scheme["name"]: session}}


def test_each_declared_scheme_works(doc: dict[str, Any], store: Engine) -> None:
    url = store.url.render_as_string(hide_password=False)
    app = create_app(Settings(database_url=url, rate_limit_per_minute=0))
    key = add_account(store, f"schemes-{uuid4().hex[:8]}", "gis", "450000")
    browser = TestClient(app)
    assert browser.post("/login", data={"api_key": key}, follow_redirects=False).is_redirect
    session = browser.cookies["geo_session"]
    assert TestClient(app).get(POINTS).status_code == 401
    for name, scheme in doc["components"]["securitySchemes"].items():
        client = TestClient(app, **_credentials(scheme, key, session))
        assert client.get(POINTS).status_code == 200, name


def test_a_new_prefix_is_tagged_by_its_first_segment() -> None:
    assert section_of("/maps/{name}/file").tag == "maps"
    assert section_of("/collections/{collectionId}/tiles/{tms}").tag == "tiles"
    assert section_of("/collections/{collectionId}/items").tag == "collections"
    assert section_of("/somewhere-new/{id}").tag == "somewhere-new"
    assert section_of("/somewhere-new/{id}").description == ""  # the test above catches it
    assert len({s.tag for s in SECTIONS}) == len(SECTIONS)
