"""ingest batches name the account and jurisdiction that loaded them

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04

A batch and its rejected rows are shown only to admins whose jurisdiction covers the
batch's. Batches loaded from the command line (and those stored before this revision)
have no owner: only an admin of the whole store sees them.
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ingest_batches") as batch:
        batch.add_column(sa.Column("account", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("jurisdiction", sa.String(length=6), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ingest_batches") as batch:
        batch.drop_column("jurisdiction")
        batch.drop_column("account")
