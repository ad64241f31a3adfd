"""audit entry keys: a replayed audit journal writes each entry exactly once

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05

The audit writer gives every entry a key of its own (``entry_key``), stored with it under a
unique index. An entry journaled while SQLite's write lock was taken, by a process that
died between storing it and updating its journal, is then recognised by its key when
the next process replays the journal: stored once, never twice. Entries stored before
this revision have none.
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # a nullable column: ALTER TABLE ADD COLUMN on both backends, no table copy
    op.add_column("audit_log", sa.Column("entry_key", sa.String(length=32), nullable=True))
    op.create_index("ix_audit_log_entry_key", "audit_log", ["entry_key"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_audit_log_entry_key", table_name="audit_log")
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_column("entry_key")
