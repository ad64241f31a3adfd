"""Bbox pages on SQLite by H3 ranges: (h3_15, key, lon, lat) indexes (SQLite only)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05

A bbox page of point records is in the order of the records' H3 cell, then their key
(``geo_service.store.spatial_pages``). PostgreSQL reads it over the few H3 ranges that
cover the box, on its ``h3_15`` indexes (0005, 0012); SQLite had no such index and read
the whole table for every bbox page, and sorted what was in the box: 0.4 to 0.7 s a
page on a store of 870,000 cases, whether the box held many records or none. This
revision gives SQLite an index on (``h3_15``, natural key, lon, lat) for the tables with
spatial pages: each range is one ordered scan of the index alone, which stops at the
page's end. Named ``sqlix_…``: the models do not declare them (PostgreSQL has its own,
wider ones), and the Alembic environment leaves them out of autogenerate comparisons.
On PostgreSQL this revision does nothing.
"""

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

#: The tables with spatial pages, by their natural key.
KEYS = {"cases": "case_id", "inspections": "inspection_id", "enterprises": "credit_code"}


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table, key in KEYS.items():
        op.create_index(f"sqlix_{table}_h3_15", table, ["h3_15", key, "lon", "lat"])


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table in reversed(KEYS):
        op.drop_index(f"sqlix_{table}_h3_15", table_name=table)
