"""The HTTP app built from explicit settings: health and landing document."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from geo_service.api.app import create_app
from geo_service.core.settings import Settings


def test_healthz_reports_the_data_version(sqlite_only_store: Engine) -> None:
    settings = Settings(database_url=sqlite_only_store.url.render_as_string())
    client = TestClient(create_app(settings))
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "data_version": 0}
    links = {link["rel"] for link in client.get("/").json()["links"]}
    assert {"service-desc", "service-doc", "status"} <= links
    assert client.get("/openapi.json").json()["info"]["title"] == "geo-service"


def test_healthz_is_503_with_a_reason_when_the_store_is_unreachable(tmp_path: Path) -> None:
    settings = Settings(database_url="postgresql+psycopg://nobody@127.0.0.1:1/none")
    response = TestClient(create_app(settings)).get("/healthz")
    assert response.status_code == 503
    assert response.json()["code"] == "store_unavailable"
    assert "127.0.0.1" not in response.json()["description"]  # no host, SQL or path handed out
