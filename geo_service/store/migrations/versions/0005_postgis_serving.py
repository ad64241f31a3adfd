"""PostGIS serving: B-tree indexes on the H3 cell and the filtered columns (PostgreSQL only)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30

The point tables already have GiST indexes on ``geom`` (0001). On PostgreSQL this adds
what items, tiles and filters of a large store read by: the H3 cell (``h3_15``), the
province adcode, the industry code for prefix filters (``varchar_pattern_ops``: LIKE
'C26%' uses it whatever the collation) and the violation type / problem category.
Their names start with ``pgix_``: the models do not declare them (SQLite keeps its
fewer indexes, which its bulk loads drop and rebuild), and the Alembic environment
leaves them out of autogenerate comparisons. On SQLite this revision does nothing.
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

#: (table, column, operator class or "") of every index this revision makes.
INDEXES = (
    *(
        (table, column, "")
        for table in ("enterprises", "cases", "inspections")
        for column in ("h3_15", "province_adcode")
    ),
    ("cases", "industry_code", "varchar_pattern_ops"),
    ("inspections", "industry_code", "varchar_pattern_ops"),
    ("enterprises", "industry_code", "varchar_pattern_ops"),
    ("cases", "violation_type", ""),
    ("inspections", "problem_category", ""),
)


def _name(table: str, column: str, ops: str) -> str:
    return f"pgix_{table}_{column}" + ("_pattern" if ops else "")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    for table in ("enterprises", "cases", "inspections"):  # made by 0001: checked, not redone
        op.execute(f"CREATE INDEX IF NOT EXISTS ix_{table}_geom ON {table} USING gist (geom)")
    for table, column, ops in INDEXES:
        op.execute(f"CREATE INDEX {_name(table, column, ops)} ON {table} ({column} {ops})")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column, ops in reversed(INDEXES):
        op.execute(f"DROP INDEX IF EXISTS {_name(table, column, ops)}")
