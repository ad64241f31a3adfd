"""The command line end to end: init, ingest (JSON on stdout), export in every format."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
from sqlalchemy import update
from typer.testing import CliRunner

from geo_service.cli import app
from geo_service.core.settings import get_settings
from geo_service.store.db import make_engine
from geo_service.store.models import PenaltyCase
from tests.geo_service.messy import write_enterprises, write_messy_cases

CASE_PROPERTIES = {
    "case_id",
    "adcode",
    "city_adcode",
    "province_adcode",
    "geocode_method",
    "geocode_precision",
    "source_crs",
    "problem_type",
    "problem_type_label",
}


@pytest.fixture
def cli(workdir: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("GEO_DATABASE_URL", f"sqlite:///{workdir / 'geo.db'}")
    get_settings.cache_clear()
    runner = CliRunner()

    def run(*args: str) -> dict:  # type: ignore[type-arg]
        result = runner.invoke(app, list(args))
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout.strip().splitlines()[-1])

    yield run
    get_settings.cache_clear()


@pytest.fixture
def loaded(cli, workdir: Path, divisions_gdf: gpd.GeoDataFrame):  # type: ignore[no-untyped-def]
    assert cli("init")["jurisdictions"] == 126
    write_enterprises(workdir / "ent.csv", divisions_gdf)
    exp = write_messy_cases(workdir / "cases.csv", divisions_gdf)
    cli("ingest", "ent.csv", "--kind", "enterprises")
    summary = cli("ingest", "cases.csv", "--kind", "cases", "--rejects", "rej.csv")
    return summary, exp


def test_ingest_prints_the_summary_and_writes_rejects(loaded, workdir: Path) -> None:  # type: ignore[no-untyped-def]
    summary, exp = loaded
    assert set(summary) >= {"rows", "accepted", "rejected", "by_method", "batch_id"}
    assert summary["rows"] == exp.rows and summary["rejected"] == len(exp.reasons)
    assert summary["by_method"] == {"address": 2, "coordinates": 17, "register": 2}
    rejects = pd.read_csv(workdir / "rej.csv", encoding="utf-8-sig", dtype=str)
    assert list(rejects.columns[:5]) == ["row_number", "reason", "detail", "原因说明", "案件编号"]
    assert len(rejects) == len(exp.reasons)


def test_relink_links_records_the_upgrade_left_unlinked(cli, loaded) -> None:  # type: ignore[no-untyped-def]
    """A store upgraded from before linkage: the records carry no link until `relink`."""
    summary, _ = loaded
    engine = make_engine(get_settings().database_url)
    with engine.begin() as conn:
        conn.execute(update(PenaltyCase).values(enterprise_credit_code=None, link_method=None))
    result = cli("relink")
    assert set(result) == {"cases", "inspections", "exceedances", "complaints", "projects"}
    assert result["cases"]["records"] == summary["accepted"]
    named = summary["accepted"] - result["cases"].get("none", 0)
    assert result["cases"]["changed"] == named > 0  # every link written again
    linked = sum(result["cases"].get(m, 0) for m in ("credit_code", "name", "fuzzy"))
    assert linked == sum(summary["by_link"].get(m, 0) for m in ("credit_code", "name", "fuzzy"))
    assert linked > 0
    assert cli("relink")["cases"]["changed"] == 0  # nothing left to change


@pytest.mark.parametrize("fmt", ["geojson", "gpkg", "csv", "xlsx"])
def test_export_cases_in_every_format(cli, loaded, workdir: Path, fmt: str) -> None:  # type: ignore[no-untyped-def]
    summary, _ = loaded
    out = workdir / f"cases.{fmt}"
    result = cli("export", "cases", "--format", fmt, "--out", str(out))
    assert result["features"] == summary["accepted"]
    if fmt == "geojson":
        doc = json.loads(out.read_text(encoding="utf-8"))
        assert doc["metadata"]["layer"] == "cases" and doc["metadata"]["data_version"] == 2
        props = doc["features"][0]["properties"]
        assert set(props) >= CASE_PROPERTIES
        assert doc["features"][0]["geometry"]["type"] == "Point"
        assert len(doc["features"]) == summary["accepted"]
    elif fmt == "gpkg":
        gdf = gpd.read_file(out)
        assert set(gdf.columns) >= CASE_PROPERTIES and len(gdf) == summary["accepted"]
        assert gdf.crs.to_epsg() == 4326
        meta = pyogrio.read_info(out)["layer_metadata"]
        assert json.loads(meta["provenance"])["layer"] == "cases"
    else:
        table = (
            pd.read_csv(out, encoding="utf-8-sig")
            if fmt == "csv"
            else pd.read_excel(out, sheet_name="data")
        )
        assert CASE_PROPERTIES | {"lon", "lat"} <= set(table.columns)
        assert len(table) == summary["accepted"]


def test_export_filters_by_jurisdiction_and_period(cli, loaded, workdir: Path) -> None:  # type: ignore[no-untyped-def]
    out = workdir / "nanning.geojson"
    got = cli(
        "export", "cases", "--format", "geojson", "--out", str(out), "--jurisdiction", "450100"
    )
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert {f["properties"]["city_adcode"] for f in doc["features"]} == {"450100"}
    assert got["features"] == len(doc["features"]) == 5  # 2 × 青秀区, 2 × 横州市, 1 by name
    assert got["filters"] == {"jurisdiction": "450100"}
    none = cli(
        "export", "cases", "--format", "csv", "--out", str(workdir / "x.csv"), "--period", "2023"
    )
    assert none["features"] == 0


def test_export_jurisdictions(cli, loaded, workdir: Path) -> None:  # type: ignore[no-untyped-def]
    out = workdir / "j.gpkg"
    got = cli(
        "export", "jurisdictions", "--format", "gpkg", "--out", str(out), "--jurisdiction", "450300"
    )
    gdf = gpd.read_file(out)
    assert got["features"] == len(gdf) == 1 + 17  # 桂林市 and its 17 counties
    assert set(gdf["level"]) == {"city", "county"}


def test_bad_arguments_exit_with_a_reason(cli, workdir: Path) -> None:  # type: ignore[no-untyped-def]
    cli("init")
    result = CliRunner().invoke(app, ["export", "cases", "--format", "shp", "--out", "x.shp"])
    assert result.exit_code == 2
    assert "format 'shp'" in result.stderr
    result = CliRunner().invoke(app, ["ingest", "missing.csv", "--kind", "cases"])
    assert result.exit_code == 2 and "no such file" in result.stderr
    result = CliRunner().invoke(
        app, ["export", "cases", "--format", "csv", "--out", "x.csv", "--jurisdiction", "999999"]
    )
    assert result.exit_code == 2 and "not a loaded division" in result.stderr
