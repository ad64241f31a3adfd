"""Clustering a PostGIS store's point records in H3 order (``geo-service cluster``): the
rows move on disk, and nothing a client reads changes (pages, next links, tiles)."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from urllib.parse import urlsplit

import geopandas as gpd
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, text
from typer.testing import CliRunner

from geo_service.api.app import create_app
from geo_service.api.postgis_tiles import record_tile_mvt
from geo_service.cli import app as cli_app
from geo_service.core.filters import Filters
from geo_service.core.settings import Settings
from geo_service.ingest import IngestOptions, ingest_file
from geo_service.store import migrate
from geo_service.store.boundaries import load_divisions
from geo_service.store.clustering import cluster_records
from tests.conftest import account_headers, scratch_postgres
from tests.geo_service.bulk_cases import CENTRE, write_cases_csv

BOX = (CENTRE[0] - 0.1, CENTRE[1] - 0.12, CENTRE[0] + 0.08, CENTRE[1] + 0.05)
N_CASES = 3_000


def _in_box(frame: pd.DataFrame) -> set[str]:
    west, south, east, north = BOX
    inside = frame["lon"].between(west, east) & frame["lat"].between(south, north)
    return set(frame.loc[inside, "case_id"])


def _walk(client: TestClient, limit: int) -> list[str]:
    """The ids of every page of the bbox, following the next links from the first."""
    path: str | None = "/collections/cases/items?" + "&".join(
        [f"bbox={','.join(str(v) for v in BOX)}", f"limit={limit}"]
    )
    ids: list[str] = []
    while path is not None:
        response = client.get(path)
        assert response.status_code == 200, response.text
        page = response.json()
        ids += [f["id"] for f in page["features"]]
        hrefs = [link["href"] for link in page["links"] if link["rel"] == "next"]
        path = None
        if hrefs:
            parts = urlsplit(hrefs[0])
            path = f"{parts.path}?{parts.query}"
    return ids


def _tile_of(lon: float, lat: float, z: int) -> tuple[int, int, int]:
    n = 2**z
    y = (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n
    return z, int((lon + 180) / 360 * n), int(y)


def _physical_h3(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        return [
            int(v) for v in conn.execute(text("SELECT h3_15 FROM cases ORDER BY ctid")).scalars()
        ]


def _content(engine: Engine) -> str:
    """A digest of every stored case, every column, in id order (not in disk order)."""
    with engine.connect() as conn:
        digest = conn.execute(
            text("SELECT md5(string_agg(c::text, '|' ORDER BY id)) FROM cases c")
        ).scalar_one()
    return str(digest)


@pytest.mark.postgis
def test_a_clustered_store_pages_a_bbox_as_before(
    worker_id: str,
    divisions_gdf: gpd.GeoDataFrame,
    tmp_path: Path,
) -> None:
    csv = tmp_path / "cases.csv"
    write_cases_csv(csv, N_CASES, seed=20, prefix="BOX")
    expected = _in_box(pd.read_csv(csv))
    assert 300 < len(expected) < N_CASES // 2  # a box of some of the cases, not all
    with scratch_postgres(worker_id, "_cluster") as engine:
        migrate(engine)
        load_divisions(engine, divisions_gdf)
        options = IngestOptions(
            kind="cases",
            progress=False,
            chunk_rows=1_000,
            today=dt.date(2026, 11, 28),
            rejects_path=tmp_path / "rejects.csv",
        )
        assert ingest_file(engine, csv, options)["accepted"] == N_CASES
        before = _physical_h3(engine)
        assert before != sorted(before)  # file order: not yet by cell
        content = _content(engine)
        z, x, y = _tile_of(*CENTRE, 10)  # more than 500 of the cases in it
        tile = record_tile_mvt(engine, "cases", Filters(), z, x, y, max_points=500)
        settings = Settings(database_url=engine.url.render_as_string(hide_password=False))
        with TestClient(create_app(settings), headers=account_headers(engine)) as client:
            walked_before = _walk(client, limit=70)

            done = cluster_records(engine, ["cases"])

            assert [(d.kind, d.rows) for d in done] == [("cases", N_CASES)]
            after = _physical_h3(engine)
            assert after == sorted(after) == sorted(before)  # on disk by cell now
            assert _content(engine) == content  # the same rows, the same ids
            walked = _walk(client, limit=70)
            gone = client.get(
                "/collections/cases/items",
                params={"bbox": ",".join(str(v) for v in BOX), "after": "BOX-none"},
            )
            assert gone.status_code == 400  # a next link from a key no longer stored
        assert walked == walked_before  # the same pages in the same order
        assert len(walked) == len(set(walked))  # no record on two pages
        assert set(walked) == expected  # and every record of the box on one
        again = record_tile_mvt(engine, "cases", Filters(), z, x, y, max_points=500)
        assert again == tile and len(tile) > 0


def test_cluster_leaves_a_sqlite_store_as_it_is(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'geo.db'}")
    try:
        assert cluster_records(engine) == []
        with pytest.raises(ValueError, match="exceedances"):
            cluster_records(engine, ["cases", "exceedances"])
    finally:
        engine.dispose()


def test_cluster_command_says_what_it_did(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'geo.db'}"
    from geo_service.store import make_engine

    engine = make_engine(url)
    migrate(engine)
    engine.dispose()
    monkeypatch.setenv("GEO_DATABASE_URL", url)
    from geo_service.core.settings import get_settings

    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli_app, ["cluster"])
        refused = CliRunner().invoke(cli_app, ["cluster", "--kind", "complaints"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert '"dialect": "sqlite", "tables": []' in result.output
    assert refused.exit_code == 2
    assert "complaints" in refused.output
