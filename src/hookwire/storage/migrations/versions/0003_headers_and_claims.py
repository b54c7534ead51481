"""webhook headers encrypted at rest; per-webhook caps held across workers

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 17:00:00.000000

Custom headers usually carry a receiver's credentials: existing values are
encrypted with the operator's secret key, which hookwire hands to Alembic
(``hookwire.storage.migrate.migrate(engine, cipher)``). Claims count each webhook's
leased deliveries (``ix_deliveries_leased``) and pace rate-limited webhooks
(``webhook_pacing``), so maxConcurrency and rateLimit hold across workers.
"""

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _cipher() -> Any:
    cipher = context.config.attributes.get("cipher")
    if cipher is None:
        raise RuntimeError(
            "the webhooks' custom headers are encrypted with the secret key: run "
            "`hookwire migrate` (or `hookwire serve`) with HOOKWIRE_SECRET_KEY set"
        )
    return cipher


def _webhooks() -> sa.TableClause:
    return sa.table(
        "webhooks",
        sa.column("id", sa.String()),
        sa.column("headers", _JSON),
        sa.column("headers_encrypted", sa.Text()),
    )


def upgrade() -> None:
    with op.batch_alter_table("webhooks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("headers_encrypted", sa.Text(), nullable=True))
    webhooks = _webhooks()
    connection = op.get_bind()
    rows = connection.execute(sa.select(webhooks.c.id, webhooks.c.headers)).all()
    for webhook_id, headers in [(row.id, row.headers) for row in rows if row.headers]:
        connection.execute(
            webhooks.update()
            .where(webhooks.c.id == webhook_id)
            .values(headers_encrypted=_cipher().encrypt(json.dumps(headers)))
        )
    with op.batch_alter_table("webhooks", schema=None) as batch_op:
        batch_op.drop_column("headers")

    leased = "state = 'pending' AND lease_owner IS NOT NULL"
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_deliveries_leased",
            ["webhook_id"],
            unique=False,
            postgresql_where=sa.text(leased),
            sqlite_where=sa.text(leased),
        )
    op.create_table(
        "webhook_pacing",
        sa.Column("webhook_id", sa.String(length=40), nullable=False),
        sa.Column("next_start_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["webhook_id"],
            ["webhooks.id"],
            name=op.f("fk_webhook_pacing_webhook_id_webhooks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("webhook_id", name=op.f("pk_webhook_pacing")),
    )


def downgrade() -> None:
    op.drop_table("webhook_pacing")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_deliveries_leased")
    with op.batch_alter_table("webhooks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("headers", _JSON, nullable=False, server_default="{}"))
    webhooks = _webhooks()
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(webhooks.c.id, webhooks.c.headers_encrypted).where(
            webhooks.c.headers_encrypted.is_not(None)
        )
    ).all()
    for webhook_id, encrypted in rows:
        connection.execute(
            webhooks.update()
            .where(webhooks.c.id == webhook_id)
            .values(headers=json.loads(_cipher().decrypt(encrypted)))
        )
    with op.batch_alter_table("webhooks", schema=None) as batch_op:
        batch_op.drop_column("headers_encrypted")
