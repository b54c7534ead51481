"""webhook body formats; the exact body of chat-format requests; portal sign-in links

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 22:00:00.000000

``webhooks.format`` chooses the request body (``hookwire``, the seed's payload,
for every existing webhook; ``slack``; ``discord``). ``log_entries.request_body``
keeps the body as sent when it is not the event's payload. ``portal_links``
holds the single-use sign-in links of the tenant portal.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("webhooks", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("format", sa.String(length=16), server_default="hookwire", nullable=False)
        )
    # On PostgreSQL log_entries is partitioned: the column reaches every partition.
    with op.batch_alter_table("log_entries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("request_body", sa.Text(), nullable=True))
    op.create_table(
        "portal_links",
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_portal_links_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id_hash", name=op.f("pk_portal_links")),
    )
    with op.batch_alter_table("portal_links", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_portal_links_expires_at"), ["expires_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_portal_links_tenant_id"), ["tenant_id"], unique=False)


def downgrade() -> None:
    op.drop_table("portal_links")
    # ALTER TABLE … DROP COLUMN (SQLite 3.35+), not a batch copy: on SQLite a
    # batch re-creates the table, and dropping the old webhooks table would
    # cascade to every delivery and log entry.
    op.drop_column("log_entries", "request_body")
    op.drop_column("webhooks", "format")
