"""planning kinds: exceedances, complaints, the inspector roster and stored draws

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _located_columns() -> list[Any]:
    """The columns of geo_service.store.models.LocatedMixin (as in 0001's point tables)."""
    return [
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("source_lon", sa.Float(), nullable=True),
        sa.Column("source_lat", sa.Float(), nullable=True),
        sa.Column("source_crs", sa.String(length=16), nullable=True),
        sa.Column("geocode_method", sa.String(length=16), nullable=False),
        sa.Column("geocode_precision", sa.String(length=8), nullable=False),
        sa.Column("coord_flags", sa.String(length=64), nullable=True),
        sa.Column("h3_15", sa.BigInteger(), nullable=False),
        sa.Column("adcode", sa.String(length=6), nullable=True),
        sa.Column("city_adcode", sa.String(length=6), nullable=True),
        sa.Column("province_adcode", sa.String(length=6), nullable=True),
        sa.Column("attributes", sa.JSON(), nullable=True),
        sa.Column("batch_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["batch_id"], ["ingest_batches.id"]),
    ]


def _located_indexes(table: str, date_column: str) -> None:
    for column in ("adcode", "city_adcode", "credit_code", date_column):
        op.create_index(f"ix_{table}_{column}", table, [column], unique=False)


def upgrade() -> None:
    op.create_table(
        "exceedances",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("exceedance_id", sa.String(length=100), nullable=False),
        sa.Column("monitor_date", sa.Date(), nullable=False),
        sa.Column("enterprise_name", sa.String(length=200), nullable=True),
        sa.Column("credit_code", sa.String(length=18), nullable=True),
        sa.Column("industry_code", sa.String(length=8), nullable=True),
        sa.Column("address", sa.Text(), nullable=True),
        sa.Column("pollutant", sa.String(length=64), nullable=True),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("limit", sa.Float(), nullable=True),
        sa.Column("unit", sa.String(length=32), nullable=True),
        *_located_columns(),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("exceedance_id"),
    )
    _located_indexes("exceedances", "monitor_date")
    op.create_table(
        "complaints",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("complaint_id", sa.String(length=100), nullable=False),
        sa.Column("complaint_date", sa.Date(), nullable=False),
        sa.Column("enterprise_name", sa.String(length=200), nullable=True),
        sa.Column("credit_code", sa.String(length=18), nullable=True),
        sa.Column("industry_code", sa.String(length=8), nullable=True),
        sa.Column("address", sa.Text(), nullable=True),
        sa.Column("category", sa.String(length=32), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        *_located_columns(),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("complaint_id"),
    )
    _located_indexes("complaints", "complaint_date")
    op.create_table(
        "inspectors",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("inspector_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("adcode", sa.String(length=6), nullable=False),
        sa.Column("level", sa.String(length=8), nullable=False),
        sa.Column("city_adcode", sa.String(length=6), nullable=True),
        sa.Column("province_adcode", sa.String(length=6), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("attributes", sa.JSON(), nullable=True),
        sa.Column("batch_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["batch_id"], ["ingest_batches.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("inspector_id"),
    )
    op.create_index("ix_inspectors_adcode", "inspectors", ["adcode"], unique=False)
    op.create_index("ix_inspectors_city_adcode", "inspectors", ["city_adcode"], unique=False)
    op.create_table(
        "inspector_exclusions",
        sa.Column("inspector_id", sa.String(length=64), nullable=False),
        sa.Column("credit_code", sa.String(length=18), nullable=False),
        sa.ForeignKeyConstraint(["inspector_id"], ["inspectors.inspector_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("inspector_id", "credit_code"),
    )
    op.create_index(
        "ix_inspector_exclusions_credit_code",
        "inspector_exclusions",
        ["credit_code"],
        unique=False,
    )
    op.create_table(
        "draws",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("draw_id", sa.String(length=64), nullable=False),
        sa.Column("jurisdiction", sa.String(length=6), nullable=False),
        sa.Column("quarter", sa.String(length=7), nullable=False),
        sa.Column("seed_commitment", sa.String(length=128), nullable=True),
        sa.Column("seed", sa.String(length=128), nullable=True),
        sa.Column("data_version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("record_json", sa.Text(), nullable=False),
        sa.Column("record_digest", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("draw_id"),
    )
    op.create_index("ix_draws_jurisdiction", "draws", ["jurisdiction"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_draws_jurisdiction", table_name="draws")
    op.drop_table("draws")
    op.drop_index("ix_inspector_exclusions_credit_code", table_name="inspector_exclusions")
    op.drop_table("inspector_exclusions")
    op.drop_index("ix_inspectors_city_adcode", table_name="inspectors")
    op.drop_index("ix_inspectors_adcode", table_name="inspectors")
    op.drop_table("inspectors")
    for table, date_column in (("complaints", "complaint_date"), ("exceedances", "monitor_date")):
        for column in (date_column, "credit_code", "city_adcode", "adcode"):
            op.drop_index(f"ix_{table}_{column}", table_name=table)
        op.drop_table(table)
