"""login sessions: the browser cookie names a server-side session, not the API key

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04

The log-in cookie used to carry the account's API key itself, so a copied cookie was the
key, and logging out left it valid. A session is now a random token whose SHA-256 alone
is stored here, with its account, when it was made, when it expires and when it was
revoked (by ``/logout`` or by disabling the account).
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "login_sessions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index("ix_login_sessions_account_id", "login_sessions", ["account_id"])


def downgrade() -> None:
    op.drop_index("ix_login_sessions_account_id", table_name="login_sessions")
    op.drop_table("login_sessions")
