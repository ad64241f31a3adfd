"""One parser for layer parameters: items, tiles, downloads and the CLI answer alike."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
import rasterio
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from typer.testing import CliRunner

from geo_service.api.app import create_app
from geo_service.cli import app as cli_app
from geo_service.core.settings import Settings
from tests.conftest import account_headers

#: (layer, query, the reason every route gives)
BAD = [
    ("hexagons", "resolution=11", "hexagons resolution must be within 5…10"),
    ("clusters", "min_samples=1", "clusters min_samples must be within 2…1000"),
    ("kde", "kernel=box", "kde kernel must be one of quartic, epanechnikov, gaussian"),
    (
        "kde",
        "bandwidth_m=1500&cell_m=1000",
        "kde bandwidth_m must be at least 2 × cell_m (2000 m for cell_m 1000 m) "
        "(核密度带宽须至少为像元大小的 2 倍)",
    ),
]


@pytest.fixture(scope="module")
def client(built_sample_store: Engine) -> Iterator[TestClient]:
    url = built_sample_store.url.render_as_string(hide_password=False)
    app = create_app(Settings(database_url=url, rate_limit_per_minute=0))
    with TestClient(app, headers=account_headers(built_sample_store)) as test_client:
        yield test_client


@pytest.mark.parametrize(("layer", "query", "reason"), BAD)
def test_every_route_refuses_a_bad_value_with_the_same_reason(
    client: TestClient, layer: str, query: str, reason: str
) -> None:
    tile = "/tiles/kde/tilejson.json" if layer == "kde" else f"/tiles/{layer}/tilejson.json"
    ext = "tif" if layer == "kde" else "geojson"
    routes = [f"/collections/{layer}/items", tile, f"/downloads/{layer}.{ext}"]
    if layer == "kde":
        routes = routes[1:]  # a raster: no items
    for route in routes:
        answer = client.get(f"{route}?{query}")
        assert answer.status_code == 400, (route, answer.text)
        assert answer.json()["description"] == reason, route


def test_downloads_take_the_parameters_items_take(client: TestClient) -> None:
    item = client.get("/collections/clusters/items?min_samples=5&limit=10000").json()
    download = client.get("/downloads/clusters.geojson?min_samples=5")
    assert download.status_code == 200
    assert len(download.json()["features"]) == item["numberMatched"]
    assert "min_samples-5" in download.headers["content-disposition"]
    other = client.get("/downloads/clusters.geojson?resolution=8")  # a parameter of others
    assert other.status_code == 400
    assert "'resolution' is not a parameter of the clusters layer" in other.json()["description"]


def test_the_command_line_refuses_as_the_routes_do(
    built_sample_store: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from geo_service.core.settings import get_settings

    url = built_sample_store.url.render_as_string(hide_password=False)
    monkeypatch.setenv("GEO_DATABASE_URL", url)
    get_settings.cache_clear()
    try:
        out = tmp_path / "hex.geojson"
        result = CliRunner().invoke(
            cli_app,
            ["export", "hexagons", "--format", "geojson", "--out", str(out), "--resolution", "11"],
        )
    finally:
        get_settings.cache_clear()
    assert result.exit_code != 0 and not out.exists()
    assert "hexagons resolution must be within 5…10" in result.output


def test_a_kde_bandwidth_under_two_cells_from_the_rule_is_a_400(client: TestClient) -> None:
    """With cells alone, the bandwidth comes from Silverman's rule at build time: cells
    wider than half of it are refused in both languages, as JSON, not as a fault."""
    nanning = "jurisdiction=450100"  # a city: a bandwidth of some km
    default = client.get(f"/downloads/kde.tif?{nanning}")
    assert default.status_code == 200, default.text[:300]
    with rasterio.open(io.BytesIO(default.content)) as dataset:
        bandwidth = float(dataset.tags()["bandwidth_m"])
    cell = round(min(10_000.0, bandwidth))  # within cell_m's bounds, over half the bandwidth
    assert cell > bandwidth / 2
    for route in ("/downloads/kde.tif", "/tiles/kde/tilejson.json"):
        answer = client.get(f"{route}?{nanning}&cell_m={cell}")
        assert answer.status_code == 400, (route, answer.text[:300])
        description = answer.json()["description"]
        assert "核密度带宽须至少为像元大小的 2 倍" in description, description
        assert "must be at least 2 × the cell size" in description, description
