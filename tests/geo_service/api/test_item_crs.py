"""OGC API - Features Part 2 on single items, and the short CRS codes clients send."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from pyproj import Transformer
from sqlalchemy import Engine

from geo_service.api.app import create_app
from geo_service.api.crs import CRS84, parse_crs
from geo_service.core.errors import BadFilterError
from geo_service.core.settings import Settings
from tests.conftest import account_headers

EPSG_4490 = "http://www.opengis.net/def/crs/EPSG/0/4490"
EPSG_3857 = "http://www.opengis.net/def/crs/EPSG/0/3857"


@pytest.fixture(scope="module")
def world(built_sample_store: Engine) -> dict[str, Any]:
    url = built_sample_store.url.render_as_string(hide_password=False)
    settings = Settings(database_url=url, rate_limit_per_minute=0, tile_rate_limit_per_minute=0)
    client = TestClient(create_app(settings))
    headers = account_headers(built_sample_store, "gis", "450100")
    first = client.get("/collections/cases/items", params={"limit": 1}, headers=headers).json()
    return {"client": client, "headers": headers, "feature": first["features"][0]}


@pytest.mark.parametrize(
    ("given", "uri"),
    [
        (None, CRS84),
        ("EPSG:4490", EPSG_4490),
        ("epsg:3857", EPSG_3857),
        ("OGC:CRS84", CRS84),
        ("urn:ogc:def:crs:EPSG::4490", EPSG_4490),
        ("[EPSG:4326]", "http://www.opengis.net/def/crs/EPSG/0/4326"),
        (EPSG_3857, EPSG_3857),
    ],
)
def test_short_codes_name_the_offered_crss(given: str | None, uri: str) -> None:
    assert parse_crs(given) == uri


def test_an_unoffered_crs_is_refused_in_chinese_and_english() -> None:
    with pytest.raises(BadFilterError, match=r"不提供坐标系.*EPSG:2385.*not offered"):
        parse_crs("EPSG:2385")


def test_a_single_item_answers_in_the_crs_asked_for(world: dict[str, Any]) -> None:
    client: TestClient = world["client"]
    fid = world["feature"]["id"]
    lon, lat = world["feature"]["geometry"]["coordinates"]
    path = f"/collections/cases/items/{fid}"
    plain = client.get(path, headers=world["headers"])
    assert plain.headers["Content-Crs"] == f"<{CRS84}>"
    assert plain.json()["geometry"]["coordinates"] == [lon, lat]
    cgcs = client.get(path, params={"crs": "EPSG:4490"}, headers=world["headers"])
    assert cgcs.status_code == 200 and cgcs.headers["Content-Crs"] == f"<{EPSG_4490}>"
    assert cgcs.json()["geometry"]["coordinates"] == pytest.approx([lat, lon])  # lat first
    mercator = client.get(path, params={"crs": EPSG_3857}, headers=world["headers"]).json()
    x, y = Transformer.from_crs("OGC:CRS84", "EPSG:3857", always_xy=True).transform(lon, lat)
    assert mercator["geometry"]["coordinates"] == pytest.approx([x, y], abs=0.01)
    refused = client.get(path, params={"crs": "EPSG:2385"}, headers=world["headers"])
    assert refused.status_code == 400 and "EPSG:2385" in refused.json()["description"]


def test_items_take_the_short_code_too(world: dict[str, Any]) -> None:
    answer = world["client"].get(
        "/collections/cases/items",
        params={"limit": 2, "crs": "EPSG:4490", "bbox-crs": "EPSG:4490"},
        headers=world["headers"],
    )
    assert answer.status_code == 200 and answer.headers["Content-Crs"] == f"<{EPSG_4490}>"
