"""Input read as written or not at all: files mixing UTF-8 and GBK lines are refused, never
stored garbled; lines and polygons are not stored as points unless a point on their
surface is asked for, and the record then says so."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from geo_service.api.app import create_app
from geo_service.cli import app
from geo_service.core.errors import InputFileError
from geo_service.core.settings import Settings, get_settings
from geo_service.ingest import IngestOptions, ingest_file
from geo_service.ingest.readers import read_csv
from geo_service.store import make_engine, migrate
from geo_service.store.boundaries import load_divisions
from tests.conftest import account_headers

HEADER = "case_id,decision_date,enterprise_name,lon,lat\n"
UTF8_ROW = "A-1,2024-01-02,南宁市某化工有限公司,108.37,22.82\n"
GBK_ROW = "A-2,2024-01-03,柳州市某钢铁有限公司,108.38,22.83\n"


@pytest.fixture(scope="module")
def own_store(
    tmp_path_factory: pytest.TempPathFactory, divisions_gdf: gpd.GeoDataFrame
) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('correct') / 'geo.db'}")
    migrate(engine)
    load_divisions(engine, divisions_gdf)
    yield engine
    engine.dispose()


# --- encodings ------------------------------------------------------------------------------


def test_a_file_mixing_utf8_and_gbk_lines_is_refused(own_store: Engine, tmp_path: Path) -> None:
    path = tmp_path / "mixed.csv"
    path.write_bytes(HEADER.encode() + UTF8_ROW.encode("utf-8") + GBK_ROW.encode("gbk"))
    with pytest.raises(InputFileError) as caught:
        ingest_file(own_store, path, IngestOptions(kind="cases", progress=False))
    reason = str(caught.value)
    assert "混用了 UTF-8 和 GBK" in reason and "第 2 行是 UTF-8，第 3 行不是" in reason
    assert "line 2 is UTF-8, line 3 is not" in reason
    with own_store.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM cases")).scalar_one() == 0


def test_the_gbk_lines_may_come_first(tmp_path: Path) -> None:
    path = tmp_path / "mixed.csv"
    path.write_bytes(HEADER.encode() + GBK_ROW.encode("gbk") + UTF8_ROW.encode("utf-8") * 3)
    with pytest.raises(InputFileError, match="line 3 is UTF-8, line 2 is not"):
        read_csv(path)


def test_a_utf8_file_with_a_bom_and_a_gbk_line_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + (HEADER + UTF8_ROW).encode() + GBK_ROW.encode("gbk"))
    with pytest.raises(InputFileError, match="line 3 is not"):
        read_csv(path)


def test_whole_files_of_either_encoding_read_as_written(tmp_path: Path) -> None:
    rows = HEADER + UTF8_ROW + GBK_ROW + "A-3,2024-01-04,联通,108.39,22.84\n"
    for encoding in ("utf-8", "utf-8-sig", "gbk", "gb18030"):
        path = tmp_path / f"{encoding}.csv"
        path.write_bytes(rows.encode(encoding))
        names = read_csv(path).data["enterprise_name"].tolist()
        assert names == ["南宁市某化工有限公司", "柳州市某钢铁有限公司", "联通"], encoding


# --- geometries -----------------------------------------------------------------------------

#: A C-shaped polygon around Nanning whose centroid in degrees lies outside it.
C_SHAPE = shapely.Polygon(
    [
        (108.30, 22.80),
        (108.40, 22.80),
        (108.40, 22.81),
        (108.32, 22.81),
        (108.32, 22.89),
        (108.40, 22.89),
        (108.40, 22.90),
        (108.30, 22.90),
    ]
)
LINE = shapely.LineString([(108.35, 22.82), (108.36, 22.83), (108.38, 22.83)])
POINT = shapely.Point(108.37, 22.82)


def _features(path: Path) -> Path:
    assert not C_SHAPE.contains(C_SHAPE.centroid)
    gdf = gpd.GeoDataFrame(
        {"case_id": ["G-POINT", "G-LINE", "G-POLY"], "decision_date": ["2024-05-01"] * 3},
        geometry=[POINT, LINE, C_SHAPE],
        crs="EPSG:4326",
    )
    gdf.to_file(path, engine="pyogrio")
    return path


def _stored(engine: Engine) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.read_sql(
            text(
                "SELECT case_id, lon, lat, geocode_method, coord_flags FROM cases "
                "WHERE case_id LIKE 'G-%'"
            ),
            conn,
        ).set_index("case_id")


@pytest.mark.parametrize("suffix", ["geojson", "gpkg"])
def test_lines_and_polygons_are_rejected_not_stored_as_points(
    own_store: Engine, tmp_path: Path, suffix: str
) -> None:
    with own_store.begin() as conn:
        conn.execute(text("DELETE FROM cases WHERE case_id LIKE 'G-%'"))
    rejects = tmp_path / "rejects.csv"
    options = IngestOptions(kind="cases", progress=False, rejects_path=rejects)
    summary = ingest_file(own_store, _features(tmp_path / f"cases.{suffix}"), options)
    assert summary["accepted"] == 1 and summary["by_reason"] == {"not_a_point": 2}
    stored = _stored(own_store)
    assert list(stored.index) == ["G-POINT"] and pd.isna(stored.loc["G-POINT", "coord_flags"])
    assert (stored.loc["G-POINT", "lon"], stored.loc["G-POINT", "lat"]) == (108.37, 22.82)
    reasons = pd.read_csv(rejects, encoding="utf-8-sig").set_index("case_id")
    assert reasons.loc["G-LINE", "reason"] == "not_a_point"
    assert reasons.loc["G-LINE", "detail"].startswith("LineString geometry")
    assert reasons.loc["G-POLY", "detail"].startswith("Polygon geometry")
    assert "--centroids" in reasons.loc["G-POLY", "detail"]


def test_asked_for_a_point_on_the_surface_is_placed_inside_and_flagged(
    own_store: Engine, tmp_path: Path
) -> None:
    options = IngestOptions(
        kind="cases", progress=False, centroids=True, rejects_path=tmp_path / "rejects.csv"
    )
    summary = ingest_file(own_store, _features(tmp_path / "cases.geojson"), options)
    assert summary["accepted"] == 3 and summary["rejected"] == 0
    stored = _stored(own_store)
    polygon = shapely.Point(stored.loc["G-POLY", "lon"], stored.loc["G-POLY", "lat"])
    assert C_SHAPE.contains(polygon)  # not the centroid, which lies outside the C
    line = shapely.Point(stored.loc["G-LINE", "lon"], stored.loc["G-LINE", "lat"])
    assert LINE.distance(line) < 1e-9
    assert stored.loc["G-POLY", "coord_flags"] == stored.loc["G-LINE", "coord_flags"]
    assert stored.loc["G-POLY", "coord_flags"] == "point_on_surface"
    assert pd.isna(stored.loc["G-POINT", "coord_flags"])
    assert set(stored["geocode_method"]) == {"coordinates"}


def test_centroids_over_http_and_in_the_cli(
    own_store: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = _features(tmp_path / "cases.geojson").read_bytes()
    url = own_store.url.render_as_string(hide_password=False)
    client = TestClient(create_app(Settings(database_url=url, rate_limit_per_minute=0)))
    admin = account_headers(own_store, "admin", "450000")
    plain = client.post("/ingest/cases?filename=cases.geojson", content=body, headers=admin)
    assert plain.status_code == 201 and plain.json()["by_reason"] == {"not_a_point": 2}
    asked = client.post(
        "/ingest/cases?filename=cases.geojson&centroids=true", content=body, headers=admin
    )
    assert asked.status_code == 201 and asked.json()["accepted"] == 3

    monkeypatch.setenv("GEO_DATABASE_URL", url)
    get_settings.cache_clear()
    try:
        path = str(tmp_path / "cases.geojson")
        runs = {
            flag: CliRunner().invoke(app, ["ingest", path, "--kind", "cases", *flag])
            for flag in ((), ("--centroids",))
        }
    finally:
        get_settings.cache_clear()
    summaries = {flag: json.loads(r.stdout.strip().splitlines()[-1]) for flag, r in runs.items()}
    assert summaries[()]["by_reason"] == {"not_a_point": 2}
    assert summaries[("--centroids",)]["accepted"] == 3
