"""enterprise linkage: link columns on every linked record, projects, the review list

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05

Cases, inspections, exceedances and complaints gain the register entry they are
linked to (``enterprise_credit_code``), how (``link_method``, ``link_score``), a flag
on a stated credit code that fails the GB 32100 check, the linked entry's supervision
category and the fields they inherited from it. Records already stored are linked
here by their stated credit code where the register holds it; ``geo-service relink``
links the rest by name, address and distance.

Projects (建设项目) are a new record kind; ``link_reviews`` lists the records that
several register entries fit about equally.
"""

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

#: The tables of records linked to the register before this revision.
LINKED = ("cases", "inspections", "exceedances", "complaints")


#: PostgreSQL's serving indexes of projects (``pgix_``, left out of the models as in
#: 0005 and 0006): the H3 cell, the province, an industry prefix, and a jurisdiction's
#: pages in key order.
_POSTGRES_INDEXES = (
    "CREATE INDEX pgix_projects_h3_15 ON projects (h3_15)",
    "CREATE INDEX pgix_projects_province_adcode ON projects (province_adcode)",
    "CREATE INDEX pgix_projects_industry_code_pattern"
    " ON projects (industry_code varchar_pattern_ops)",
    "CREATE INDEX pgix_projects_adcode_by_key ON projects (adcode, project_id)",
    "CREATE INDEX pgix_projects_city_adcode_by_key ON projects (city_adcode, project_id)",
    "CREATE INDEX pgix_projects_province_adcode_by_key ON projects (province_adcode, project_id)",
)


def _link_columns() -> list[Any]:
    """The columns of geo_service.store.models.LinkedMixin."""
    return [
        sa.Column("enterprise_credit_code", sa.String(length=18), nullable=True),
        sa.Column("link_method", sa.String(length=16), nullable=True),
        sa.Column("link_score", sa.Float(), nullable=True),
        sa.Column("credit_code_flag", sa.String(length=16), nullable=True),
        sa.Column("supervision_category", sa.String(length=8), nullable=True),
        sa.Column("inherited", sa.String(length=64), nullable=True),
    ]


def _located_columns() -> list[Any]:
    """The columns of geo_service.store.models.LocatedMixin."""
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


def upgrade() -> None:
    for table in LINKED:
        with op.batch_alter_table(table) as batch:
            for column in _link_columns():
                batch.add_column(column)
        op.create_index(
            f"ix_{table}_enterprise_credit_code", table, ["enterprise_credit_code"], unique=False
        )
        records = sa.table(
            table,
            sa.column("credit_code"),
            sa.column("enterprise_credit_code"),
            sa.column("link_method"),
            sa.column("link_score"),
        )
        register = sa.table("enterprises", sa.column("credit_code"))
        op.execute(
            sa.update(records)
            .where(records.c.credit_code.in_(sa.select(register.c.credit_code)))
            .values(
                enterprise_credit_code=records.c.credit_code,
                link_method="credit_code",
                link_score=1.0,
            )
        )
    op.create_table(
        "projects",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("project_id", sa.String(length=100), nullable=False),
        sa.Column("project_name", sa.String(length=200), nullable=False),
        sa.Column("enterprise_name", sa.String(length=200), nullable=True),
        sa.Column("credit_code", sa.String(length=18), nullable=True),
        sa.Column("industry_code", sa.String(length=8), nullable=True),
        sa.Column("address", sa.Text(), nullable=True),
        sa.Column("eia_approval_no", sa.String(length=100), nullable=True),
        sa.Column("eia_approval_date", sa.Date(), nullable=True),
        sa.Column("acceptance_date", sa.Date(), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=True),
        *_link_columns(),
        *_located_columns(),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("project_id"),
    )
    for column in (
        "adcode",
        "city_adcode",
        "credit_code",
        "eia_approval_date",
        "enterprise_credit_code",
    ):
        op.create_index(f"ix_projects_{column}", "projects", [column], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE projects ADD COLUMN geom geometry(Point, 4326)"
            " GENERATED ALWAYS AS (ST_SetSRID(ST_MakePoint(lon, lat), 4326)) STORED"
        )
        op.execute("CREATE INDEX ix_projects_geom ON projects USING gist (geom)")
        for statement in _POSTGRES_INDEXES:  # as 0005 and 0006 made for the other records
            op.execute(statement)
    op.create_table(
        "link_reviews",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("record_id", sa.String(length=100), nullable=False),
        sa.Column("enterprise_name", sa.String(length=200), nullable=True),
        sa.Column("credit_code", sa.String(length=18), nullable=True),
        sa.Column("adcode", sa.String(length=6), nullable=True),
        sa.Column("city_adcode", sa.String(length=6), nullable=True),
        sa.Column("province_adcode", sa.String(length=6), nullable=True),
        sa.Column("candidates", sa.JSON(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["batch_id"], ["ingest_batches.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("kind", "record_id", name="uq_link_reviews_kind_record"),
    )
    op.create_index("ix_link_reviews_adcode", "link_reviews", ["adcode"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_link_reviews_adcode", table_name="link_reviews")
    op.drop_table("link_reviews")
    op.drop_table("projects")
    for table in reversed(LINKED):
        op.drop_index(f"ix_{table}_enterprise_credit_code", table_name=table)
        with op.batch_alter_table(table) as batch:
            for column in reversed(_link_columns()):
                batch.drop_column(column.name)
