"""deliveries.seq: the order deliveries were stored in, for FIFO webhooks

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 10:00:00.000000

A FIFO webhook sends its pending deliveries in ``seq`` order (see
``storage/claims.py`` for why neither ``created_at`` nor the id can be that
order). Existing rows are numbered in the order they were stored: on SQLite
their rowid, which grows with every insert; on PostgreSQL, which keeps no such
order, by ``(created_at, id)``, the best there is. The index on
``(webhook_id, state, created_at)`` becomes ``(webhook_id, state, seq)``: it
finds a FIFO webhook's head in one probe, and serves the same look-ups as before.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEQUENCE = "deliveries_seq"


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        op.execute(f"CREATE SEQUENCE {SEQUENCE} AS bigint")
    # ALTER TABLE … ADD COLUMN, not a batch copy: on SQLite a batch re-creates the
    # table, and dropping the old one would cascade to every log entry.
    op.add_column("deliveries", sa.Column("seq", sa.BigInteger(), nullable=True))
    if postgres:
        op.execute(
            "UPDATE deliveries SET seq = numbered.n FROM ("
            " SELECT id, row_number() OVER (ORDER BY created_at, id) AS n FROM deliveries"
            ") AS numbered WHERE numbered.id = deliveries.id"
        )
        op.execute(
            f"SELECT setval('{SEQUENCE}', coalesce((SELECT max(seq) FROM deliveries), 0) + 1,"
            " false)"
        )
    else:
        op.execute("UPDATE deliveries SET seq = rowid")
    op.drop_index("ix_deliveries_webhook_id_state_created_at", table_name="deliveries")
    op.create_index(
        "ix_deliveries_webhook_id_state_seq", "deliveries", ["webhook_id", "state", "seq"]
    )


def downgrade() -> None:
    op.drop_index("ix_deliveries_webhook_id_state_seq", table_name="deliveries")
    op.create_index(
        "ix_deliveries_webhook_id_state_created_at",
        "deliveries",
        ["webhook_id", "state", "created_at"],
    )
    op.drop_column("deliveries", "seq")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP SEQUENCE {SEQUENCE}")
