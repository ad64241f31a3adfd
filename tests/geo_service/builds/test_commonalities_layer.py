"""The commonalities layer (共性与差异) as served: accounts get the tests, anonymous callers
the disclosure policy's view (perturbed counts, names only, default parameters only)."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from analytics.cell_key import NEVER_PUBLISHED
from geo_service.api.app import create_app
from geo_service.core.settings import Settings
from tests.conftest import account_headers

#: What an anonymous caller's features may carry: counts perturbed, types named, no shares.
PUBLIC_PROPERTIES = {
    "adcode",
    "name",
    "level",
    "records",
    "status",
    "status_zh",
    "n_distinctive",
    "lead_category",
    "lead_label",
    "distinctive",
    "distinctive_zh",
    "common_zh",
}


@pytest.fixture(scope="module")
def clients(built_sample_store: Engine) -> tuple[TestClient, TestClient]:
    """An anonymous client and an admin's over the built sample."""
    url = built_sample_store.url.render_as_string(hide_password=False)
    app = create_app(
        Settings(database_url=url, rate_limit_per_minute=0, tile_rate_limit_per_minute=0)
    )
    admin = account_headers(built_sample_store, "admin", "450000")
    return TestClient(app), TestClient(app, headers=admin)


def _features(client: TestClient, query: str = "") -> list[dict]:  # type: ignore[type-arg]
    answer = client.get(f"/collections/commonalities/items?limit=10000{query}")
    assert answer.status_code == 200, answer.text[:300]
    return [f["properties"] for f in answer.json()["features"]]


def test_accounts_get_shares_and_q_values_with_the_minimum_support(
    clients: tuple[TestClient, TestClient],
) -> None:
    _, admin = clients
    places = _features(admin)
    assert len(places) > 100 and {p["level"] for p in places} == {"county"}
    for place in places:
        standing_out = json.loads(place["distinctive"])
        if place["records"] < 30:
            assert place["status"] == "too_few_records" and standing_out == []
            assert place["lead_category"] == "too_few"
            continue
        assert place["status"] == "tested"
        for label, count, share, elsewhere, _ratio, q in standing_out:
            assert q <= 0.05 and share > elsewhere and count <= place["records"], label
    cities = _features(admin, "&unit=city&min_records=50&alpha=0.01")
    assert {p["level"] for p in cities} == {"city"} and len(cities) == 14


def test_anonymous_callers_get_perturbed_counts_and_names_only(
    clients: tuple[TestClient, TestClient],
) -> None:
    anonymous, admin = clients
    public = _features(anonymous, "&jurisdiction=450000")
    assert public and all(set(p) <= PUBLIC_PROPERTIES for p in public)
    assert not any(p["records"] in NEVER_PUBLISHED for p in public)
    for place in public:
        names = json.loads(place["distinctive"])
        assert all(isinstance(n, str) for n in names)  # names, no tallies or shares
        if names:
            assert place["status"] == "tested" and place["records"] >= 30
    truth = {p["adcode"]: p["records"] for p in _features(admin)}
    moved = [abs(p["records"] - truth[p["adcode"]]) for p in public]
    assert max(moved) <= 2 and any(moved)  # perturbed, by two at most above four
    for query in ("&unit=city", "&min_records=10", "&alpha=0.2"):
        answer = anonymous.get(f"/collections/commonalities/items?jurisdiction=450000{query}")
        assert answer.status_code == 401, query
    ledger = anonymous.get("/stats/commonalities?group_by=industry&jurisdiction=450000")
    assert ledger.status_code == 401
