"""the secret of the public view's cell keys

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04

Anonymous callers get counts perturbed by the cell-key method: every record's key is a
keyed hash of its id under this secret. One secret per store, made at random on first
use, so every server process of the store perturbs a count the same way (asking another
server again gains nothing). It never leaves the store.
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "service_secrets",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("secret", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("service_secrets")
