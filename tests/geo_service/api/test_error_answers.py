"""Bad input is a 4xx with a JSON reason; a fault of the service is a logged 500 with an
opaque id and no raw message."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from analytics.errors import StaffingError
from geo_service.api.app import create_app
from geo_service.core.errors import BadFilterError
from geo_service.core.settings import Settings
from tests.conftest import account_headers

#: Requests an attacker-tester found answered 500; each is bad input, so a 4xx.
BAD_REQUESTS = (
    "/collections/emerging-hotspots/items?end=2000-01-01",
    "/downloads/emerging-hotspots.geojson?end=2000-01-01",
    "/tiles/emerging-hotspots/7/102/55.mvt?end=2000-01-01",
    "/maps/cell/fffffffffffffffffff",
    "/maps/cell/8840040525fffff0",
    "/collections/cases/items?offset=99999999999999999999",
    "/collections/cases/items?h3_15=ffffffffffffffffffff",
    "/collections/inspections/items?h3_15=-ffffffffffffffffffff",
    "/ingest/batches/99999999999999999999",
    # year 0 is no date: a bug's ValueError before the error table stopped answering 400
    "/maps/hexagons?period=0000",
    "/tiles/kde/tilejson.json?period=0000-Q1",
    "/plans?period=0000-01",
    "/collections/risk/items?end=0001-01-02",  # risk scored at a day pandas has no room for
)


def _app(engine: Engine) -> TestClient:
    url = engine.url.render_as_string(hide_password=False)
    settings = Settings(database_url=url, rate_limit_per_minute=0, tile_rate_limit_per_minute=0)
    return TestClient(create_app(settings), raise_server_exceptions=False)


@pytest.mark.parametrize("path", BAD_REQUESTS)
def test_bad_input_is_a_4xx_with_a_reason(built_sample_store: Engine, path: str) -> None:
    client = _app(built_sample_store)
    response = client.get(path, headers=account_headers(built_sample_store))
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    body = response.json()
    assert body["code"] != "internal_error" and body["description"]


def test_a_fault_is_a_logged_500_with_an_opaque_id(
    sqlite_only_store: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    client = _app(sqlite_only_store)

    @client.app.get("/boom")  # type: ignore[attr-defined]
    def boom() -> None:
        raise RuntimeError("SELECT secret FROM cases WHERE adcode = '450202'")

    @client.app.get("/refused")  # type: ignore[attr-defined]
    def refused() -> None:
        raise BadFilterError("industry 'Z99' is not a GB/T 4754 code")

    with caplog.at_level(logging.ERROR, logger="geo_service.core.errors"):
        response = client.get("/boom")
    assert response.status_code == 500
    body = response.json()
    assert body["code"] == "internal_error" and len(body["id"]) == 16
    assert "secret" not in response.text and "450202" not in response.text
    assert body["id"] in body["description"]
    (record,) = [r for r in caplog.records if body["id"] in r.getMessage()]
    assert record.exc_info is not None and "SELECT secret" in str(record.exc_info[1])
    assert client.get("/boom").json()["id"] != body["id"]  # one id per failure

    @client.app.get("/bug")  # type: ignore[attr-defined]
    def bug() -> None:
        int("450202 of /srv/geo/data")  # a bug's ValueError is not the caller's fault

    @client.app.get("/staffing")  # type: ignore[attr-defined]
    def staffing() -> None:
        raise StaffingError("2 inspectors cannot staff 40 inspections")

    bug_answer = client.get("/bug")
    assert bug_answer.status_code == 500 and bug_answer.json()["code"] == "internal_error"
    assert "450202" not in bug_answer.text and "/srv" not in bug_answer.text
    staffing_answer = client.get("/staffing")  # the analytics' own errors are the request's
    assert staffing_answer.status_code == 400
    assert staffing_answer.json()["description"] == "2 inspectors cannot staff 40 inspections"

    refused_answer = client.get("/refused")  # the service's own errors keep their reason
    assert refused_answer.status_code == 400
    assert refused_answer.json() == {
        "code": "bad_filter",
        "description": "industry 'Z99' is not a GB/T 4754 code",
    }


def test_a_period_of_centuries_is_refused_before_any_work(built_sample_store: Engine) -> None:
    """Emerging hot spots over thousands of months would take hours and gigabytes."""
    client = _app(built_sample_store)
    headers = account_headers(built_sample_store)
    for query in ("start=1216-09-25&end=4001-12-24", "step=month&start=1990-01-01"):
        answer = client.get(f"/collections/emerging-hotspots/items?{query}", headers=headers)
        assert answer.status_code == 400, answer.text[:200]
        assert "at most 240" in answer.json()["description"]
    fine = client.get("/collections/emerging-hotspots/items?period=2024", headers=headers)
    assert fine.status_code == 200
