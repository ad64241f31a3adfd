"""Pages of a jurisdiction in key order: (adcode, natural key) indexes (PostgreSQL only)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29

A page of a county's (city's, province's) records is ``WHERE adcode = … ORDER BY
case_id LIMIT …``. With an index on the adcode alone PostgreSQL walks the natural key's
index instead and filters, and the case ids of a county are not spread evenly through
that order: on a 10M-case store a county's first page took 11 s. An index on (adcode,
natural key) gives the page in order straight away. Named ``pgix_…`` like 0005's, left
out of the models and of autogenerate comparisons; on SQLite this revision does nothing.
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

#: (table, jurisdiction column, natural key) of every index this revision makes.
INDEXES = tuple(
    (table, column, key)
    for table, key in (
        ("enterprises", "credit_code"),
        ("cases", "case_id"),
        ("inspections", "inspection_id"),
    )
    for column in ("adcode", "city_adcode", "province_adcode")
)


def _name(table: str, column: str) -> str:
    return f"pgix_{table}_{column}_by_key"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column, key in INDEXES:
        op.execute(f"CREATE INDEX {_name(table, column)} ON {table} ({column}, {key})")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column, _ in reversed(INDEXES):
        op.execute(f"DROP INDEX IF EXISTS {_name(table, column)}")
