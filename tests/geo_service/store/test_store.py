"""The store on both backends: schema, boundaries, and PostGIS geometry columns."""

from __future__ import annotations

from pathlib import Path

import pytest
import shapely
from sqlalchemy import Engine, event, func, inspect, select, text
from sqlalchemy.pool import QueuePool

from geo_service.core.errors import StoreNotReadyError
from geo_service.store import is_postgres, migrate, require_schema
from geo_service.store.boundaries import read_divisions
from geo_service.store.db import SQLITE_POOL_SIZE, make_engine
from geo_service.store.models import Jurisdiction
from tests.geo_service.messy import write_enterprises

TABLES = {
    "jurisdictions",
    "enterprises",
    "cases",
    "inspections",
    "ingest_batches",
    "rejected_rows",
    "alembic_version",
}


def test_schema_and_boundaries(store: Engine) -> None:
    assert set(inspect(store).get_table_names()) >= TABLES
    migrate(store)  # idempotent
    with store.connect() as conn:
        levels = dict(
            conn.execute(
                select(Jurisdiction.level, func.count()).group_by(Jurisdiction.level)
            ).all()
        )
    assert levels == {"province": 1, "city": 14, "county": 111}
    divisions = read_divisions(store)
    counties = divisions.counties
    reps = shapely.points(counties["rep_lon"], counties["rep_lat"])
    assert shapely.contains(counties.geometry.to_numpy(), reps).all()
    assert divisions.table.loc["450103", "name"] == "青秀区"
    assert divisions.table.loc["450103", "city_adcode"] == "450100"


def test_uninitialised_store_is_reported(tmp_path: Path) -> None:
    with pytest.raises(StoreNotReadyError, match="geo-service init"):
        require_schema(make_engine(f"sqlite:///{tmp_path / 'empty.db'}"))


@pytest.mark.postgis
def test_postgis_geometry_columns_follow_the_portable_ones(
    postgis_only_store: Engine, tmp_path: Path, divisions_gdf
) -> None:  # type: ignore[no-untyped-def]
    from geo_service.ingest import IngestOptions, ingest_file

    assert is_postgres(postgis_only_store)
    path = tmp_path / "ent.csv"
    places = write_enterprises(path, divisions_gdf)
    ingest_file(postgis_only_store, path, IngestOptions(kind="enterprises", progress=False))
    with postgis_only_store.connect() as conn:
        # every stored point lies in the county polygon it was assigned, by PostGIS itself
        rows = conn.execute(
            text(
                "SELECT e.credit_code, j.adcode FROM enterprises e JOIN jurisdictions j"
                " ON j.level = 'county' AND ST_Contains(j.geom, e.geom)"
            )
        ).all()
        gist = (
            conn.execute(
                text(
                    "SELECT indexname FROM pg_indexes WHERE indexdef LIKE '%USING gist%' ORDER BY 1"
                )
            )
            .scalars()
            .all()
        )
        srid = conn.execute(text("SELECT DISTINCT ST_SRID(geom) FROM jurisdictions")).scalar()
    assert dict(rows) == places
    assert gist == [
        "ix_cases_geom",
        "ix_enterprises_geom",
        "ix_inspections_geom",
        "ix_jurisdictions_geom",
        "ix_projects_geom",
    ]
    assert srid == 4326


def test_migrations_match_the_models(store: Engine) -> None:
    from alembic import command

    from geo_service.store.db import alembic_config

    command.check(alembic_config(store))  # raises when the models need a new migration


def test_a_sqlite_files_pool_keeps_its_connections_open(tmp_path: Path) -> None:
    """Concurrent readers of a SQLite store reuse connections instead of opening the file
    again on every request past the fifth (the default pool closed its overflow)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'pooled.db'}")
    opened: list[object] = []
    event.listen(engine, "connect", lambda dbapi, _record: opened.append(dbapi))
    for _ in range(3):  # three bursts of 12 connections held at once
        held = [engine.connect() for _ in range(12)]
        for conn in held:
            conn.close()
    assert len(opened) == 12
    assert isinstance(engine.pool, QueuePool) and engine.pool.size() == SQLITE_POOL_SIZE
    memory = make_engine("sqlite://")  # an in-memory store keeps SQLAlchemy's own pool
    with memory.connect() as conn:
        assert conn.exec_driver_sql("select 1").scalar() == 1
