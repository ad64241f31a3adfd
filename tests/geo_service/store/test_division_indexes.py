"""Revision 0013: a jurisdiction's page in key order, read in that order on every store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Engine, event, inspect, text

from geo_service.core.filters import Filters
from geo_service.store.boundaries import load_divisions, read_divisions_file
from geo_service.store.db import alembic_config, make_engine, migrate
from geo_service.store.queries import PageRequest, read_records_rows
from tests.conftest import scratch_postgres

KEYS = {
    "enterprises": "credit_code",
    "cases": "case_id",
    "inspections": "inspection_id",
    "projects": "project_id",
}


def _indexes(engine: Engine) -> dict[str, dict[str, list[str]]]:
    names = inspect(engine)
    return {
        table: {
            str(ix["name"]): [str(c) for c in ix["column_names"]] for ix in names.get_indexes(table)
        }
        for table in KEYS
    }


def _up_and_down(engine: Engine) -> None:
    migrate(engine, "0012")
    before = _indexes(engine)
    migrate(engine)
    command.check(alembic_config(engine))  # the upgraded schema is the models'
    after = _indexes(engine)
    for table, key in KEYS.items():
        assert after[table][f"ix_{table}_adcode_by_key"] == ["adcode", key]
        assert after[table][f"ix_{table}_city_adcode_by_key"] == ["city_adcode", key]
        gone = {f"ix_{table}_adcode", f"ix_{table}_city_adcode", f"pgix_{table}_province_adcode"}
        gone |= {f"pgix_{table}_{c}_by_key" for c in ("adcode", "city_adcode")}
        assert not gone & after[table].keys()
    command.downgrade(alembic_config(engine), "0012")
    assert _indexes(engine) == before
    migrate(engine)


def test_upgrade_and_downgrade_on_sqlite(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'geo.db'}")
    try:
        _up_and_down(engine)
    finally:
        engine.dispose()


@pytest.mark.postgis
def test_upgrade_and_downgrade_on_postgis(worker_id: str) -> None:
    with scratch_postgres(worker_id, "_0013") as engine:
        _up_and_down(engine)
        with engine.connect() as conn:  # one index per division and key, none beside it
            province = conn.execute(
                text("SELECT indexname FROM pg_indexes WHERE indexdef LIKE '%(province_adcode%'")
            ).scalars()
            assert sorted(province) == sorted(f"pgix_{t}_province_adcode_by_key" for t in KEYS)


@pytest.fixture
def statements(tmp_path: Path) -> Iterator[tuple[Engine, list[tuple[str, Any]]]]:
    engine = make_engine(f"sqlite:///{tmp_path / 'geo.db'}")
    migrate(engine)
    load_divisions(engine, read_divisions_file())
    seen: list[tuple[str, Any]] = []
    event.listen(engine, "before_cursor_execute", lambda *a: seen.append((a[2], a[3])))
    yield engine, seen
    engine.dispose()


@pytest.mark.parametrize(("kind", "jurisdiction"), [("cases", "450100"), ("enterprises", "450102")])
def test_a_division_page_is_read_in_key_order_without_a_sort(
    statements: tuple[Engine, list[tuple[str, Any]]], kind: str, jurisdiction: str
) -> None:
    """SQLite reads the page along the (division, key) index and stops at its end; with an
    index on the division alone it read and sorted every record of the division."""
    engine, seen = statements
    read_records_rows(engine, kind, Filters(jurisdiction=jurisdiction), PageRequest(limit=100))
    statement, parameters = next((s, p) for s, p in seen if "ORDER BY" in s)
    with engine.connect() as conn:
        plan = " | ".join(
            str(row[-1])
            for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
        )
    column = "city_adcode" if jurisdiction.endswith("00") else "adcode"
    assert f"USING INDEX ix_{kind}_{column}_by_key ({column}=?)" in plan
    assert "TEMP B-TREE" not in plan
