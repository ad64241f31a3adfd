"""Covering H3 indexes: bbox pages, their counts and aggregated tiles on the index alone

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05

The B-trees on ``h3_15`` of revision 0005 (PostgreSQL only) are made again with the
columns a bbox page's count and an aggregated point tile read besides the cell
(``INCLUDE``): the natural key, lon/lat, the three division adcodes of the scope
filters, the date, and for cases the penalty summed per aggregated point. Over the H3
ranges covering a box (``geo_service.store.spatial_pages``) PostgreSQL then counts the
records, finds a bbox page's keys and bins a tile by index-only scans, without reading
the wide rows (about 800 bytes each). The
indexes keep their names (``geo-service cluster`` orders the tables by them). On
SQLite this revision does nothing.
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_DIVISIONS = ("lon", "lat", "province_adcode", "city_adcode", "adcode")
#: Columns each table's H3 index carries besides the cell.
COVERED = {
    "cases": ("case_id", *_DIVISIONS, "decision_date", "penalty_amount"),
    "inspections": ("inspection_id", *_DIVISIONS, "inspection_date"),
    "enterprises": ("credit_code", *_DIVISIONS),
}


#: The statements of each way, fixed here from the constants above.
UPGRADE = tuple(
    statement
    for table, columns in COVERED.items()
    for statement in (
        f"DROP INDEX IF EXISTS pgix_{table}_h3_15",
        f"CREATE INDEX pgix_{table}_h3_15 ON {table} (h3_15) INCLUDE ({', '.join(columns)})",
    )
)
DOWNGRADE = tuple(
    statement
    for table in COVERED
    for statement in (
        f"DROP INDEX IF EXISTS pgix_{table}_h3_15",
        f"CREATE INDEX pgix_{table}_h3_15 ON {table} (h3_15)",
    )
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in DOWNGRADE:
        op.execute(statement)
