"""Table definitions: the one description of the schema, which Alembic migrations follow.

Why each index exists is written beside it; the delivery queue is the table
that matters for speed, so its shape is explained in full there.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both databases.

    PostgreSQL keeps ``timestamptz``; SQLite stores naive UTC text, which sorts
    correctly, and values come back with ``tzinfo=UTC`` attached.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use UTC-aware values")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


JSONType = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

tenants = sa.Table(
    "tenants",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    # Listing pages through tenants in creation order (keyset on created_at, id).
    sa.Index(None, "created_at", "id"),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    # NULL tenant_id is an admin key.
    sa.Column(
        "tenant_id", sa.String(64), sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=True
    ),
    sa.Column("name", sa.String(200), nullable=False),
    # SHA-256 of the key: keys are 256-bit random, so a fast hash is enough and
    # every request's lookup stays one indexed equality.
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("prefix", sa.String(16), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    # Written at most once per API_KEY_TOUCH_INTERVAL_SECONDS (auth.py), so
    # authenticating does not turn every request into a write.
    sa.Column("last_used_at", UTCDateTime(), nullable=True),
    # A tenant's keys in creation order (keyset on created_at, id); deleting a
    # tenant cascades to its keys through the same index.
    sa.Index(None, "tenant_id", "created_at", "id"),
)

# Dashboard sign-ins. Only the SHA-256 of the session id (the cookie's value) is
# kept, so a copy of this table cannot be replayed as cookies. A row is the
# session: deleting it (sign-out, a revoked key, a deleted tenant, expiry)
# ends it at once.
dashboard_sessions = sa.Table(
    "dashboard_sessions",
    metadata,
    sa.Column("id_hash", sa.String(64), primary_key=True),
    # "key": signed in with an API key. Other kinds may have no key at all.
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column(
        "api_key_id",
        sa.String(40),
        sa.ForeignKey("api_keys.id", ondelete="CASCADE"),
        nullable=True,
    ),
    # The tenant the session acts for; NULL for the admin.
    sa.Column(
        "tenant_id", sa.String(64), sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=True
    ),
    sa.Column("is_admin", sa.Boolean(), nullable=False),
    # Sessions of the operator's configured admin key (which has no api_keys
    # row): binds them to that key, so changing it ends them.
    sa.Column("admin_key_fingerprint", sa.String(64), nullable=True),
    sa.Column("csrf_token", sa.String(64), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("expires_at", UTCDateTime(), nullable=False),
    # Revoking a key and deleting a tenant delete their sessions through these.
    sa.Index(None, "api_key_id"),
    sa.Index(None, "tenant_id"),
    # Purging expired sessions.
    sa.Index(None, "expires_at"),
)

# Single-use sign-in links to the dashboard for one tenant (the portal). Only
# the hash of the link's secret is kept, like a session's.
portal_links = sa.Table(
    "portal_links",
    metadata,
    sa.Column("id_hash", sa.String(64), primary_key=True),
    sa.Column(
        "tenant_id", sa.String(64), sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("expires_at", UTCDateTime(), nullable=False),
    # Set when the link is used: it signs in once.
    sa.Column("used_at", UTCDateTime(), nullable=True),
    sa.Index(None, "tenant_id"),
    # Purging expired links.
    sa.Index(None, "expires_at"),
)

event_types = sa.Table(
    "event_types",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("description", sa.Text(), nullable=False, server_default=""),
    sa.Column("schema", JSONType, nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)

webhooks = sa.Table(
    "webhooks",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column(
        "tenant_id", sa.String(64), sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("description", sa.Text(), nullable=False, server_default=""),
    sa.Column("url", sa.Text(), nullable=False),
    # Tokens are Fernet-encrypted with the operator's secret key.
    sa.Column("token_encrypted", sa.Text(), nullable=False),
    sa.Column("previous_token_encrypted", sa.Text(), nullable=True),
    sa.Column("previous_token_expires_at", UTCDateTime(), nullable=True),
    sa.Column("events", JSONType, nullable=False),
    sa.Column("active", sa.Boolean(), nullable=False),
    # Custom request headers, a JSON object Fernet-encrypted like the token:
    # they usually carry the receiver's credentials. NULL when there are none.
    sa.Column("headers_encrypted", sa.Text(), nullable=True),
    sa.Column("signature_scheme", sa.String(16), nullable=False),
    sa.Column("max_concurrency", sa.Integer(), nullable=False),
    sa.Column("rate_limit", sa.Integer(), nullable=True),
    sa.Column("ordering", sa.String(16), nullable=False, server_default="none"),
    sa.Column("format", sa.String(16), nullable=False, server_default="hookwire"),
    sa.Column("status", sa.String(16), nullable=False, server_default="healthy"),
    # When the current run of failures started; a success clears it. Suspension
    # is decided from it, so no history has to be scanned.
    sa.Column("failing_since", UTCDateTime(), nullable=True),
    sa.Column("last_delivery_at", UTCDateTime(), nullable=True),
    sa.Column("last_status_code", sa.Integer(), nullable=True),
    # Bumped on every change so a worker's cache of webhook settings knows it is stale.
    sa.Column("version", sa.Integer(), nullable=False, server_default="1"),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    # Per-tenant listing in creation order, and the fan-out lookup of a tenant's
    # webhooks when an event is accepted.
    sa.Index(None, "tenant_id", "created_at", "id"),
)

events = sa.Table(
    "events",
    metadata,
    # The id is unique per tenant: a client may choose it ("id" in the request),
    # and two tenants choosing the same id must not collide.
    sa.Column(
        "tenant_id", sa.String(64), sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("id", sa.String(255), nullable=False),
    sa.Column("event_type", sa.String(200), nullable=False),
    # The exact body bytes sent on every attempt; the signature is over these.
    sa.Column("payload", sa.LargeBinary(), nullable=False),
    sa.Column("idempotency_key", sa.String(255), nullable=True),
    sa.Column("triggered_at", UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint("tenant_id", "id"),
    # Idempotency-Key look-up and its uniqueness (NULLs are distinct on both databases).
    sa.Index(None, "tenant_id", "idempotency_key", unique=True),
    # Listing a tenant's events newest first.
    sa.Index(None, "tenant_id", "triggered_at", "id"),
    # The retention purge walks the oldest events of all tenants in batches,
    # from a cursor. One entry per event, written once at the right edge;
    # without it each batch would scan the whole table.
    sa.Index(None, "triggered_at", "tenant_id", "id"),
)

# The sequence that numbers deliveries in the order they were stored (PostgreSQL).
DELIVERY_SEQUENCE = "deliveries_seq"


class NextDeliverySeq(sa.sql.expression.FunctionElement[int]):
    """The next ``deliveries.seq``: the queue order of a FIFO webhook (see storage/claims.py).

    Evaluated by the database for each inserted row, in the statement itself,
    so every way a delivery is stored numbers it. PostgreSQL takes it from a
    sequence; SQLite, whose writers are serialised, from the row stored last
    (the highest rowid carries the highest seq: both only grow, and VACUUM
    keeps rowids in order), with no index to maintain for it.
    """

    type = sa.BigInteger()
    inherit_cache = True
    name = "next_delivery_seq"


@compiles(NextDeliverySeq, "postgresql")
def _next_seq_postgresql(_element: NextDeliverySeq, _compiler: SQLCompiler, **_kw: Any) -> str:
    return f"nextval('{DELIVERY_SEQUENCE}')"


@compiles(NextDeliverySeq, "sqlite")
def _next_seq_sqlite(_element: NextDeliverySeq, _compiler: SQLCompiler, **_kw: Any) -> str:
    return "(SELECT coalesce((SELECT seq FROM deliveries ORDER BY rowid DESC LIMIT 1), 0) + 1)"


deliveries = sa.Table(
    "deliveries",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("tenant_id", sa.String(64), nullable=False),
    sa.Column("event_id", sa.String(255), nullable=False),
    sa.Column(
        "webhook_id",
        sa.String(40),
        sa.ForeignKey("webhooks.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("event_type", sa.String(200), nullable=False),
    # pending, succeeded, failed, cancelled, skipped (webhook suspended when it arrived).
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
    # For a pending delivery this is both the due time and the lease: a claim
    # moves it to now + lease, so a worker that dies simply lets it come due
    # again. One partial index then serves the whole queue.
    sa.Column("next_attempt_at", UTCDateTime(), nullable=True),
    sa.Column("lease_owner", sa.String(64), nullable=True),
    # What the next request will be logged as: its trigger, and why it is a retry.
    sa.Column("next_trigger", sa.String(16), nullable=False, server_default="scheduled"),
    sa.Column("retry_reason", sa.Text(), nullable=True),
    sa.Column("last_status_code", sa.Integer(), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    # The order deliveries were stored in (their events' acceptance): a FIFO
    # webhook sends its pending deliveries in this order. Set by the database
    # on insert; nullable only so that adding it (0006) did not rebuild the table.
    sa.Column("seq", sa.BigInteger(), nullable=True, default=NextDeliverySeq()),
    sa.ForeignKeyConstraint(
        ["tenant_id", "event_id"], ["events.tenant_id", "events.id"], ondelete="CASCADE"
    ),
    # The queue: due pending deliveries in due order. Partial, so finished
    # deliveries (nearly all rows) never enter it.
    sa.Index(
        "ix_deliveries_due",
        "next_attempt_at",
        postgresql_where=sa.text("state = 'pending'"),
        sqlite_where=sa.text("state = 'pending'"),
    ),
    # An event's deliveries (event detail) and the cascade from events.
    sa.Index(None, "tenant_id", "event_id"),
    # Per-webhook look-ups: a FIFO webhook's head (its pending delivery with the
    # lowest seq: one index probe), a webhook's pending deliveries in order,
    # recover failed/skipped (created_at filtered on the rows), and the cascade
    # when a webhook is deleted.
    sa.Index(None, "webhook_id", "state", "seq"),
    # A webhook's deliveries under a lease, counted by every claim to hold its
    # maxConcurrency across workers. Partial: only leased rows (a few per
    # webhook) enter it, not a backlog of scheduled retries.
    sa.Index(
        "ix_deliveries_leased",
        "webhook_id",
        postgresql_where=sa.text("state = 'pending' AND lease_owner IS NOT NULL"),
        sqlite_where=sa.text("state = 'pending' AND lease_owner IS NOT NULL"),
    ),
)

# When a rate-limited webhook may start its next request, whichever worker
# claims it: claims space their deliveries' start times 1/rateLimit apart.
# Its own table, so that claiming never writes (or locks) the webhook's row.
webhook_pacing = sa.Table(
    "webhook_pacing",
    metadata,
    sa.Column(
        "webhook_id",
        sa.String(40),
        sa.ForeignKey("webhooks.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("next_start_at", UTCDateTime(), nullable=False),
)

# On PostgreSQL this table is partitioned by day on created_at (partitions
# log_entries_pYYYYMMDD and log_entries_default, see storage/log_partitions.py),
# so retention drops whole days instead of deleting row by row. The primary key
# must hold the partition key; leading with created_at, it also serves the
# purge's batches by age (SQLite, and PostgreSQL's default partition).
log_entries = sa.Table(
    "log_entries",
    metadata,
    sa.Column("id", sa.String(40), nullable=False),
    sa.Column("tenant_id", sa.String(64), nullable=False),
    sa.Column(
        "delivery_id",
        sa.String(40),
        sa.ForeignKey("deliveries.id", ondelete="CASCADE"),
        nullable=False,
    ),
    # Denormalised from the delivery so the webhook's log is one index range scan.
    sa.Column("webhook_id", sa.String(40), nullable=False),
    sa.Column("event_id", sa.String(255), nullable=False),
    sa.Column("event_type", sa.String(200), nullable=False),
    sa.Column("attempt", sa.Integer(), nullable=False),
    sa.Column("trigger", sa.String(16), nullable=False),
    sa.Column("sent_at", UTCDateTime(), nullable=True),
    sa.Column("received_at", UTCDateTime(), nullable=True),
    sa.Column("duration_ms", sa.Integer(), nullable=True),
    sa.Column("status_code", sa.Integer(), nullable=True),
    sa.Column("success", sa.Boolean(), nullable=False),
    sa.Column("retry_reason", sa.Text(), nullable=True),
    sa.Column("error", sa.Text(), nullable=True),
    sa.Column("request_headers", JSONType, nullable=False),
    sa.Column("response_headers", JSONType, nullable=True),
    sa.Column("response_body", sa.Text(), nullable=True),
    # The body exactly as sent when it is not the event's payload (a chat
    # format, see hookwire.formats); NULL when it is the payload.
    sa.Column("request_body", sa.Text(), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint("created_at", "id"),
    # The webhook's event log, newest first, with time-range filters.
    sa.Index(None, "webhook_id", "created_at", "id"),
    # A delivery's attempts (delivery detail) and the cascade from deliveries.
    sa.Index(None, "delivery_id"),
    postgresql_partition_by="RANGE (created_at)",
)
