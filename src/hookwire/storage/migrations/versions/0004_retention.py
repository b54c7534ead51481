"""retention: the event log is partitioned by day on PostgreSQL; purging is served by indexes

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 16:00:00.000000

On PostgreSQL ``log_entries`` becomes ``PARTITION BY RANGE (created_at)``, so
retention drops whole days (see ``hookwire.storage.retention``). Its existing
rows are moved in this one transaction: those before today into one partition
``log_entries_before_YYYYMMDD`` (purged row by row until it is wholly past the
retention, then dropped), today's and later ones into day partitions, and
anything later still into the default partition. On both databases the
primary key becomes ``(created_at, id)``: PostgreSQL requires the partition key
in it, and leading with the time it serves the purge's batches by age.
"""

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# LOG_PARTITION_DAYS_AHEAD of hookwire.storage.retention when this was written;
# maintenance creates the partitions of later days.
_DAYS_AHEAD = 3
_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
_COLUMNS = (
    "id, tenant_id, delivery_id, webhook_id, event_id, event_type, attempt, trigger, "
    "sent_at, received_at, duration_ms, status_code, success, retry_reason, error, "
    "request_headers, response_headers, response_body, created_at"
)


def _log_entries_columns() -> list[sa.Column[Any]]:
    return [
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("delivery_id", sa.String(length=40), nullable=False),
        sa.Column("webhook_id", sa.String(length=40), nullable=False),
        sa.Column("event_id", sa.String(length=255), nullable=False),
        sa.Column("event_type", sa.String(length=200), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.Column("retry_reason", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("request_headers", _JSON, nullable=False),
        sa.Column("response_headers", _JSON, nullable=True),
        sa.Column("response_body", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    ]


def _midnight(day: date) -> str:
    return datetime(day.year, day.month, day.day, tzinfo=UTC).isoformat()


def _move_log_entries(source: str, target: str) -> None:
    op.execute(f"INSERT INTO {target} ({_COLUMNS}) SELECT {_COLUMNS} FROM {source}")


def _add_log_entries_keys(primary_key: list[str]) -> None:
    # After the rows are in: one index build and one FK check instead of one per row.
    op.create_primary_key("pk_log_entries", "log_entries", primary_key)
    op.create_foreign_key(
        "fk_log_entries_delivery_id_deliveries",
        "log_entries",
        "deliveries",
        ["delivery_id"],
        ["id"],
        ondelete="CASCADE",
    )
    op.create_index("ix_log_entries_delivery_id", "log_entries", ["delivery_id"])
    op.create_index(
        "ix_log_entries_webhook_id_created_at_id",
        "log_entries",
        ["webhook_id", "created_at", "id"],
    )


def _set_aside_log_entries(name: str) -> None:
    """Rename the log table, freeing its index names for the table that replaces it."""
    op.rename_table("log_entries", name)
    op.drop_constraint("pk_log_entries", name, type_="primary")
    op.drop_index("ix_log_entries_delivery_id", table_name=name)
    op.drop_index("ix_log_entries_webhook_id_created_at_id", table_name=name)


def _partition_log_entries() -> None:
    _set_aside_log_entries("log_entries_old")
    op.create_table(
        "log_entries", *_log_entries_columns(), postgresql_partition_by="RANGE (created_at)"
    )
    op.execute("CREATE TABLE log_entries_default PARTITION OF log_entries DEFAULT")
    today = datetime.now(UTC).date()
    oldest = op.get_bind().scalar(sa.text("SELECT min(created_at) FROM log_entries_old"))
    if oldest is not None and oldest.astimezone(UTC).date() < today:
        op.execute(
            f"CREATE TABLE log_entries_before_{today:%Y%m%d} PARTITION OF log_entries "
            f"FOR VALUES FROM (MINVALUE) TO ('{_midnight(today)}')"
        )
    for offset in range(_DAYS_AHEAD + 1):
        day = today + timedelta(days=offset)
        op.execute(
            f"CREATE TABLE log_entries_p{day:%Y%m%d} PARTITION OF log_entries "
            f"FOR VALUES FROM ('{_midnight(day)}') TO ('{_midnight(day + timedelta(days=1))}')"
        )
    _move_log_entries("log_entries_old", "log_entries")
    op.drop_table("log_entries_old")
    _add_log_entries_keys(["created_at", "id"])


def _unpartition_log_entries() -> None:
    _set_aside_log_entries("log_entries_partitioned")
    op.drop_constraint(
        "fk_log_entries_delivery_id_deliveries", "log_entries_partitioned", type_="foreignkey"
    )
    op.create_table("log_entries", *_log_entries_columns())
    _move_log_entries("log_entries_partitioned", "log_entries")
    op.drop_table("log_entries_partitioned")  # and its partitions with it
    _add_log_entries_keys(["id"])


def _sqlite_log_entries(primary_key: list[str]) -> sa.Table:
    """The whole table as SQLite rebuilds it: changing a primary key means a new table."""
    metadata = sa.MetaData()
    sa.Table("deliveries", metadata, sa.Column("id", sa.String(length=40), primary_key=True))
    return sa.Table(
        "log_entries",
        metadata,
        *_log_entries_columns(),
        sa.PrimaryKeyConstraint(*primary_key, name="pk_log_entries"),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["deliveries.id"],
            name="fk_log_entries_delivery_id_deliveries",
            ondelete="CASCADE",
        ),
        sa.Index("ix_log_entries_delivery_id", "delivery_id"),
        sa.Index("ix_log_entries_webhook_id_created_at_id", "webhook_id", "created_at", "id"),
    )


def upgrade() -> None:
    # The purge's walk through the oldest events of all tenants.
    op.create_index(
        "ix_events_triggered_at_tenant_id_id", "events", ["triggered_at", "tenant_id", "id"]
    )
    if op.get_bind().dialect.name == "postgresql":
        _partition_log_entries()
        return
    with op.batch_alter_table(
        "log_entries", recreate="always", copy_from=_sqlite_log_entries(["created_at", "id"])
    ):
        pass


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _unpartition_log_entries()
    else:
        with op.batch_alter_table(
            "log_entries", recreate="always", copy_from=_sqlite_log_entries(["id"])
        ):
            pass
    op.drop_index("ix_events_triggered_at_tenant_id_id", table_name="events")
