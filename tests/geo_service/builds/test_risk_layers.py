"""The risk and priority-areas layers: columns, tiers, contributions, public view, scoping,
CLI build and export, items, tiles, TileJSON and downloads."""

from __future__ import annotations

import io
import json
from pathlib import Path

import h3
import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from typer.testing import CliRunner

from geo_service.api.app import create_app
from geo_service.builds.exports import load_layer
from geo_service.builds.risk import latest_record_date
from geo_service.builds.run import analytic_layer
from geo_service.cli import app as cli_app
from geo_service.core.errors import AuthenticationRequiredError
from geo_service.core.filters import Filters
from geo_service.core.paths import SAMPLE_SLICE
from geo_service.core.settings import Settings, get_settings
from geo_service.ingest import IngestOptions, ingest_file
from geo_service.store.queries import read_frame
from layers.labels import REASON_LABELS_ZH
from tests.conftest import account_headers

COUNTY, NEIGHBOUR = "450102", "450103"
CELL_COLUMNS = {
    "h3",
    "resolution",
    "score",
    "tier",
    "enterprises",
    "expected_findings",
    "reasons",
    "reasons_zh",
}
AREA_COLUMNS = {
    "area_id",
    "rank",
    "cells",
    "score",
    "expected_findings",
    "reasons",
    "reasons_zh",
    "enterprises",
    "top_enterprises",
}
KINDS = ("enterprises", "cases", "inspections", "exceedances", "complaints")


@pytest.fixture
def loaded(store: Engine, tmp_path: Path) -> Engine:
    """The sample slice's register, cases, inspections, exceedances and complaints."""
    for kind in KINDS:
        options = IngestOptions(kind=kind, rejects_path=tmp_path / f"{kind}.csv", progress=False)
        ingest_file(store, SAMPLE_SLICE / f"{kind}.csv", options)
    return store


def _check_cells(frame: pd.DataFrame, provenance: dict, resolution: int) -> None:
    assert set(frame.columns) >= CELL_COLUMNS
    used = provenance["parameters"]["components"]
    assert {f"v_{k}" for k in used} | {f"c_{k}" for k in used} <= set(frame.columns)
    assert set(frame["resolution"]) == {resolution}
    assert all(h3.get_resolution(c) == resolution for c in frame["h3"][:50])
    # contributions add up to the score
    assert np.allclose(frame[[f"c_{k}" for k in used]].sum(axis=1), frame["score"])
    # tiers follow the recorded cut-offs
    tiers = provenance["parameters"]["tiers"]
    high, medium = tiers["high"]["min_score"], tiers["medium"]["min_score"]
    positive = frame["score"] > 0
    assert (frame.loc[positive & (frame["score"] >= high), "tier"] == "high").all()
    between = positive & (frame["score"] >= medium) & (frame["score"] < high)
    assert (frame.loc[between, "tier"] == "medium").all()
    assert (frame.loc[frame["score"] < medium, "tier"] == "low").all()
    # reasons: JSON component names, the Chinese labels beside them
    for reasons, zh in zip(frame["reasons"][:200], frame["reasons_zh"][:200], strict=True):
        names = json.loads(reasons)
        assert zh == "、".join(REASON_LABELS_ZH[n] for n in names)


def test_risk_cells_have_their_columns_tiers_and_contributions(loaded: Engine) -> None:
    stored = analytic_layer(loaded, "risk", Filters(), {}, Settings())
    frame, provenance = stored.frame(), stored.provenance()
    _check_cells(frame, provenance, 7)
    parameters = provenance["parameters"]
    assert parameters["as_of"] == latest_record_date(loaded).isoformat() == "2025-12-31"
    assert parameters["window_years"] == 3 and parameters["unit"] == "cell"
    assert pytest.approx(sum(parameters["weights"].values())) == 1.0
    register = read_frame(loaded, "enterprises", Filters(), ["lon"])
    assert frame["enterprises"].sum() == register["lon"].notna().sum() == 3000
    # the quantile tiers: about 10 % high, 20 % medium among the cells
    shares = frame["tier"].value_counts(normalize=True)
    assert 0.05 < shares["high"] <= 0.11 and 0.15 < shares["medium"] <= 0.21


def test_settings_weights_and_tiers_make_their_own_build(loaded: Engine) -> None:
    settings = Settings(risk_weights={"severity": 3, "case_density": 1}, risk_tiers="0.5,0.25")
    stored = analytic_layer(
        loaded, "risk", Filters(jurisdiction="450100"), {"resolution": 6}, settings
    )
    frame, provenance = stored.frame(), stored.provenance()
    _check_cells(frame, provenance, 6)
    parameters = provenance["parameters"]
    assert parameters["weights"] == {"severity": 0.75, "case_density": 0.25}
    assert parameters["components"] == ["severity", "case_density"]
    assert parameters["tiers"]["high"]["quantile"] == 0.5
    scored = frame[frame["score"] > 0]
    cut = float(np.quantile(frame["score"], 0.5))
    assert parameters["tiers"]["high"]["min_score"] == pytest.approx(cut)
    assert (scored["tier"] == "high").sum() == (
        (frame["score"] >= cut) & (frame["score"] > 0)
    ).sum()
    default = analytic_layer(
        loaded, "risk", Filters(jurisdiction="450100"), {"resolution": 6}, Settings()
    ).provenance()
    assert default["parameters"]["weights"] != parameters["weights"]


def test_enterprise_risk_points_name_the_enterprises(loaded: Engine) -> None:
    frame, meta = load_layer(loaded, "risk", Filters(jurisdiction=COUNTY), {"unit": "enterprise"})
    register = read_frame(
        loaded, "enterprises", Filters(jurisdiction=COUNTY), ["credit_code", "name", "lon"]
    )
    located = register[register["lon"].notna()]
    assert sorted(frame["credit_code"]) == sorted(located["credit_code"])
    assert dict(zip(frame["credit_code"], frame["name"], strict=True)) == dict(
        zip(located["credit_code"], located["name"], strict=True)
    )
    assert set(frame.geometry.geom_type) == {"Point"}
    used = meta["parameters"]["components"]
    assert np.allclose(frame[[f"c_{k}" for k in used]].sum(axis=1), frame["score"])
    assert {"category", "industry_code", "cell", "last_inspected", "reasons_zh"} <= set(frame)


def test_priority_areas_are_the_high_cells_ranked(loaded: Engine) -> None:
    cells, _ = load_layer(loaded, "risk", Filters())
    areas, meta = load_layer(loaded, "priority-areas", Filters())
    assert set(areas.columns) >= AREA_COLUMNS and len(areas) > 0
    high = cells[cells["tier"] == "high"]
    assert areas["cells"].sum() == len(high)
    assert areas["expected_findings"].sum() == pytest.approx(high["expected_findings"].sum())
    assert list(areas["area_id"]) == list(range(1, len(areas) + 1))
    assert (np.diff(areas["expected_findings"]) <= 1e-9).all() and areas["rank"].iloc[0] == 1
    top = json.loads(areas["top_enterprises"].iloc[0])
    assert 0 < len(top) <= 10 and {"credit_code", "name"} == set(top[0])
    assert all(entry["name"] for entry in top)
    assert meta["parameters"]["area_tiers"] == ["high"]


def test_the_risk_layers_need_an_account(loaded: Engine) -> None:
    """Risk rates single enterprises, even in a cell of few: no public view of it."""
    public = Filters(min_count=3)
    for layer, parameters in (
        ("risk", {}),
        ("risk", {"unit": "enterprise"}),
        ("priority-areas", {}),
    ):
        with pytest.raises(AuthenticationRequiredError, match="account"):
            load_layer(loaded, layer, public, parameters)
    assert len(load_layer(loaded, "risk", Filters())[0]) > 0  # accounts get it


@pytest.fixture(scope="module")
def client(built_sample_store: Engine) -> TestClient:
    url = built_sample_store.url.render_as_string(hide_password=False)
    settings = Settings(database_url=url, rate_limit_per_minute=0, tile_rate_limit_per_minute=0)
    return TestClient(create_app(settings))


def test_items_anonymous_get_401_for_the_risk_layers(client: TestClient) -> None:
    for path in (
        "/collections/risk/items?limit=10000",
        "/collections/risk/items?unit=enterprise",
        f"/collections/risk/items?jurisdiction={COUNTY}",
        "/collections/priority-areas/items",
    ):
        refused = client.get(path)
        assert refused.status_code == 401, path
        assert set(refused.json()) == {"code", "description"}
    titles = {c["id"]: c["title"] for c in client.get("/collections").json()["collections"]}
    assert titles["risk"].startswith("风险分级") and titles["priority-areas"].startswith(
        "重点检查区域"
    )


def test_a_county_account_gets_its_county_only(
    client: TestClient, built_sample_store: Engine
) -> None:
    headers = account_headers(built_sample_store, "planner", COUNTY)
    own = read_frame(
        built_sample_store, "enterprises", Filters(jurisdiction=COUNTY), ["credit_code", "lon"]
    )
    answer = client.get("/collections/risk/items?unit=enterprise&limit=10000", headers=headers)
    assert answer.status_code == 200
    codes = {f["id"] for f in answer.json()["features"]}
    assert codes == set(own.loc[own["lon"].notna(), "credit_code"])
    outside = client.get(f"/collections/risk/items?jurisdiction={NEIGHBOUR}", headers=headers)
    assert outside.status_code == 403
    areas = client.get("/collections/priority-areas/items", headers=headers).json()["features"]
    for area in areas:  # named for an account, all of its own county
        assert {
            e["credit_code"] for e in json.loads(area["properties"]["top_enterprises"])
        } <= codes


def test_tiles_tilejson_and_downloads(client: TestClient, built_sample_store: Engine) -> None:
    assert client.get("/tiles/risk/tilejson.json").status_code == 401  # anonymous
    assert client.get("/downloads/priority-areas.geojson").status_code == 401
    client = TestClient(client.app, headers=account_headers(built_sample_store, "planner"))
    doc = client.get("/tiles/risk/tilejson.json").json()
    assert doc["tiles"][0].endswith("/tiles/risk/{z}/{x}/{y}.mvt")
    assert (
        "tier" in doc["vector_layers"][0]["fields"]
        and doc["provenance"]["parameters"]["as_of"] == "2025-12-31"
    )
    cells, _ = load_layer(built_sample_store, "risk", Filters())
    lat, lon = h3.cell_to_latlng(cells["h3"].iloc[0])
    z = 9
    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - np.arcsinh(np.tan(np.radians(lat))) / np.pi) / 2 * n)
    tile = client.get(f"/tiles/risk/{z}/{x}/{y}.geojson")
    assert tile.status_code == 200
    assert cells["h3"].iloc[0] in {f["properties"]["h3"] for f in tile.json()["features"]}
    assert client.get(f"/tiles/risk/{z}/{x}/{y}.mvt").status_code == 200
    assert client.get("/tiles/priority-areas/tilejson.json").status_code == 200
    for ext in ("geojson", "gpkg", "csv", "xlsx"):
        answer = client.get(f"/downloads/risk.{ext}")
        assert answer.status_code == 200, answer.text[:200]
    table = pd.read_csv(io.StringIO(client.get("/downloads/risk.csv").content.decode("utf-8-sig")))
    assert len(table) == len(cells) and {"tier", "reasons_zh", "wkt"} <= set(table.columns)
    areas = client.get("/downloads/priority-areas.geojson").json()
    assert areas["metadata"]["parameters"]["area_tiers"] == ["high"]
    bad = client.get("/downloads/risk.csv?window_years=9")
    assert bad.status_code == 400 and set(bad.json()) == {"code", "description"}
    assert client.get("/collections/risk/items?as_of=2024-13-01").status_code == 400


def test_cli_builds_and_exports_both_layers(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEO_DATABASE_URL", f"sqlite:///{workdir / 'geo.db'}")
    monkeypatch.setenv("GEO_RISK_TIERS", "0.8,0.6")
    get_settings.cache_clear()
    runner = CliRunner()

    def run(*args: str) -> dict:  # type: ignore[type-arg]
        result = runner.invoke(cli_app, list(args))
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]

    try:
        run("init")
        for kind in KINDS:
            run("ingest", str(SAMPLE_SLICE / f"{kind}.csv"), "--kind", kind)
        built = run(
            "build", "--layer", "risk", "--layer", "priority-areas", "--jurisdiction", "450100"
        )
        assert [v["parameters"]["unit"] for v in built["layers"]["risk"]] == ["cell", "enterprise"]
        assert built["layers"]["risk"][0]["parameters"]["tiers"]["high"]["quantile"] == 0.8
        out = run(
            "export", "risk", "--format", "gpkg", "--out", "risk.gpkg", "--jurisdiction", "450100"
        )
        import geopandas as gpd

        frame = gpd.read_file(workdir / "risk.gpkg")
        assert len(frame) == out["features"] > 0 and "reasons_zh" in frame.columns
        shares = frame["tier"].value_counts(normalize=True)
        assert 0.15 <= shares["high"] <= 0.21  # the 0.8 quantile of the settings
        areas = run(
            "export",
            "priority-areas",
            "--format",
            "geojson",
            "--out",
            "areas.geojson",
            "--jurisdiction",
            "450100",
        )
        doc = json.loads((workdir / "areas.geojson").read_text("utf-8"))
        assert len(doc["features"]) == areas["features"] > 0
    finally:
        get_settings.cache_clear()
