"""Revision 0010 on a store made before linkage: stored records linked by their stated code."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from sqlalchemy import inspect, text

from geo_service.store.db import alembic_config, make_engine, migrate

CODE = "91450103382465005Y"  # valid (GB 32100)


def test_upgrade_links_stored_records_by_their_stated_code(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    migrate(engine, "0009")
    point = "108.3, 22.8, 108.3, 22.8, 'WGS84', 'coordinates', 'point', 0"
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO enterprises (credit_code, name, name_norm, lon, lat, source_lon,"
                " source_lat, source_crs, geocode_method, geocode_precision, h3_15)"
                f" VALUES ('{CODE}', '某化工有限公司', '某化工有限公司', {point})"
            )
        )
        for case_id, code in (("A", CODE), ("B", "91450103478583479B"), ("C", None)):
            conn.execute(
                text(
                    "INSERT INTO cases (case_id, decision_date, credit_code, lon, lat,"
                    " source_lon, source_lat, source_crs, geocode_method, geocode_precision,"
                    f" h3_15) VALUES (:id, '2024-05-04', :code, {point})"
                ),
                {"id": case_id, "code": code},
            )
    migrate(engine)
    command.check(alembic_config(engine))  # the upgraded schema is the models'
    assert {"projects", "link_reviews"} <= set(inspect(engine).get_table_names())
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT case_id, enterprise_credit_code, link_method, link_score FROM cases"
                " ORDER BY case_id"
            )
        ).all()
    # only the code the register holds links; the rest wait for `geo-service relink`
    assert [tuple(r) for r in rows] == [
        ("A", CODE, "credit_code", 1.0),
        ("B", None, None, None),
        ("C", None, None, None),
    ]
