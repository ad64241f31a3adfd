"""A jurisdiction's page in key order on every store; no duplicate division indexes

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05

A county's or city's page of records is ``WHERE adcode = … ORDER BY <natural key>
LIMIT …``. Revision 0006 gave PostgreSQL (division, key) indexes for it, but SQLite kept
its indexes on the division alone: it read every record of the division and sorted
them for each page, and a city of 100,000 records paid for all of them on every page.
Each table served in pages now has ``ix_<table>_adcode_by_key`` and
``ix_<table>_city_adcode_by_key`` on both stores, declared in the models, in place of
``ix_<table>_adcode`` and ``ix_<table>_city_adcode``: a query on the division alone
uses them as well.

On PostgreSQL, 0006's ``pgix_`` indexes on the same columns become these (renamed, not
built again), and the indexes they made redundant are dropped: the division indexes of
0001 and ``pgix_<table>_province_adcode`` of 0005, which the province's (division, key)
index covers. Every batch written had to keep those up to date.
"""

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

#: The tables served in pages, by their natural key.
KEYS = {
    "enterprises": "credit_code",
    "cases": "case_id",
    "inspections": "inspection_id",
    "projects": "project_id",
}
_DIVISIONS = ("adcode", "city_adcode")
#: PostgreSQL's (division, key) indexes: their names before and after this revision.
NAMES = {
    (table, column): (f"pgix_{table}_{column}_by_key", f"ix_{table}_{column}_by_key")
    for table in KEYS
    for column in _DIVISIONS
}
#: The renames of each way, fixed here from the constants above.
RENAMES_UP = {k: f"ALTER INDEX {old} RENAME TO {new}" for k, (old, new) in NAMES.items()}
RENAMES_DOWN = {k: f"ALTER INDEX {new} RENAME TO {old}" for k, (old, new) in NAMES.items()}


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table, key in KEYS.items():
        for column in _DIVISIONS:
            op.drop_index(f"ix_{table}_{column}", table_name=table)
            if postgres:
                op.execute(RENAMES_UP[table, column])
            else:
                op.create_index(f"ix_{table}_{column}_by_key", table, [column, key])
        if postgres:
            op.drop_index(f"pgix_{table}_province_adcode", table_name=table)


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table in reversed(KEYS):
        if postgres:
            op.create_index(f"pgix_{table}_province_adcode", table, ["province_adcode"])
        for column in reversed(_DIVISIONS):
            if postgres:
                op.execute(RENAMES_DOWN[table, column])
            else:
                op.drop_index(f"ix_{table}_{column}_by_key", table_name=table)
            op.create_index(f"ix_{table}_{column}", table, [column])
