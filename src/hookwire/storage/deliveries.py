"""The delivery queue: claim due deliveries, record finished attempts, release, resend, recover.

For a pending delivery ``next_attempt_at`` is both its due time and its lease:
a claim moves it to ``now + lease`` and names the worker in ``lease_owner``.
A worker that dies lets its deliveries come due again; a worker whose lease
ran out finds ``lease_owner`` changed and its completion no longer applies.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.compiler import SQLCompiler

from hookwire.config import DEFAULT_SUSPEND_AFTER_SECONDS
from hookwire.storage import tables as t
from hookwire.storage.base import NotFound, utcnow
from hookwire.storage.events import NOTIFY_CHANNEL, delivery_record
from hookwire.storage.logs import LOG_ENTRY_COLUMNS, log_entry_rows
from hookwire.storage.records import AttemptResult, ClaimedDelivery, Delivery, Webhook
from hookwire.storage.webhooks import WebhookStore

MANUAL_RESEND_REASON = "manual resend"

_d = t.deliveries

# One statement for a whole batch of finished attempts (executemany). The
# lease condition makes a late completion by a worker that lost its lease a no-op.
_COMPLETE = (
    _d.update()
    .where(
        _d.c.id == sa.bindparam("b_id"),
        _d.c.lease_owner == sa.bindparam("b_owner"),
        _d.c.state == "pending",
    )
    .values(
        state=sa.bindparam("b_state"),
        attempts=sa.bindparam("b_attempts"),
        next_attempt_at=sa.bindparam("b_next_attempt_at"),
        lease_owner=None,
        next_trigger="scheduled",
        retry_reason=sa.bindparam("b_retry_reason"),
        last_status_code=sa.bindparam("b_status_code"),
        updated_at=sa.bindparam("b_now"),
    )
)
# The per-row values of _COMPLETE, in their order; b_owner and b_now are per batch.
_COMPLETE_ROW = (
    "b_id",
    "b_state",
    "b_attempts",
    "b_next_attempt_at",
    "b_retry_reason",
    "b_status_code",
)

_EXISTING = sa.select(_d.c.id).where(
    _d.c.id == sa.any_(sa.bindparam("b_ids", type_=postgresql.ARRAY(sa.String())))
)

_RELEASE = (
    _d.update()
    .where(
        _d.c.id == sa.bindparam("b_id"),
        _d.c.lease_owner == sa.bindparam("b_owner"),
        _d.c.state == "pending",
    )
    .values(next_attempt_at=sa.bindparam("b_due"), lease_owner=None)
)

_UPDATE_HEALTH = (
    t.webhooks.update()
    .where(t.webhooks.c.id == sa.bindparam("b_id"))
    .values(
        status=sa.bindparam("b_status"),
        active=sa.bindparam("b_active"),
        failing_since=sa.bindparam("b_failing_since"),
        last_delivery_at=sa.bindparam("b_last_delivery_at"),
        last_status_code=sa.bindparam("b_last_status_code"),
        # Only a change the worker acts on (status, active) invalidates its cache.
        version=t.webhooks.c.version + sa.bindparam("b_version_step", type_=sa.Integer()),
    )
)


class _Executemany:
    """A statement compiled once for one dialect and run with rows of positional values.

    ``conn.execute(statement, [dict, ...])`` makes SQLAlchemy build, check and
    type-process a parameter dict per row, which cost more CPU than anything
    else in recording a batch. Here a row is a tuple in ``names`` order that
    goes to the driver after the dialect's own bind processors have converted
    the values that need it (datetimes, JSON), so the SQL and the stored values
    are those SQLAlchemy would have sent. ``fixed`` values are the same for
    every row of a batch and are converted once per batch.
    """

    def __init__(
        self,
        statement: sa.ClauseElement,
        dialect: sa.Dialect,
        names: Sequence[str],
        fixed: Sequence[str] = (),
    ) -> None:
        compiled = statement.compile(dialect=dialect)
        # Both drivers (sqlite3 and asyncpg) take positional parameters.
        assert isinstance(compiled, SQLCompiler) and compiled.positiontup is not None
        self.sql = compiled.string
        self._fixed = tuple(fixed)
        self._multi_rowcount = dialect.supports_sane_multi_rowcount
        sources = {name: i for i, name in enumerate((*names, *fixed))}
        unknown = set(sources) - set(compiled.positiontup)
        if unknown:
            raise ValueError(f"not parameters of the statement: {sorted(unknown)}")
        processors: dict[str, Callable[[Any], Any] | None] = {
            name: compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
            for name in compiled.positiontup
        }
        self._row_processors = [
            (i, processor) for i, name in enumerate(names) if (processor := processors[name])
        ]
        self._fixed_processors = [processors[name] for name in fixed]
        constants: list[Any] = []
        picks = []
        for name in compiled.positiontup:
            if name in sources:
                picks.append(sources[name])
                continue
            bind = compiled.binds[name]
            if bind.required:
                raise ValueError(f"no value given for parameter {name!r}")
            # A value of the statement itself, such as the 'pending' of state = 'pending'.
            processor = processors[name]
            value = bind.effective_value
            constants.append(value if processor is None else processor(value))
            picks.append(len(sources) + len(constants) - 1)
        self._constants = tuple(constants)
        pick = operator.itemgetter(*picks)
        self._pick: Callable[[tuple[Any, ...]], tuple[Any, ...]] = (
            pick if len(picks) > 1 else lambda values: (pick(values),)
        )

    def parameters(self, rows: Iterable[Sequence[Any]], fixed: Sequence[Any]) -> list[Any]:
        """The driver's parameters for ``rows``, with ``fixed`` in the order given at creation."""
        tail = (
            *(v if p is None else p(v) for p, v in zip(self._fixed_processors, fixed, strict=True)),
            *self._constants,
        )
        pick, processors = self._pick, self._row_processors
        if not processors:
            return [pick((*row, *tail)) for row in rows]
        parameters = []
        for row in rows:
            values = [*row, *tail]
            for i, processor in processors:
                values[i] = processor(values[i])
            parameters.append(pick(tuple(values)))
        return parameters

    async def execute(
        self, conn: AsyncConnection, rows: Sequence[Sequence[Any]], *fixed: Any
    ) -> int | None:
        """Run the statement for each row; how many rows changed (None: the driver cannot tell)."""
        if not rows:
            return 0
        result = await conn.exec_driver_sql(self.sql, self.parameters(rows, fixed))
        if len(rows) > 1 and not self._multi_rowcount:
            return None
        return int(result.rowcount)


@dataclass(slots=True)
class _WebhookOutcome:
    """What one batch says about one webhook's health."""

    last: AttemptResult
    gone: bool
    any_success: bool
    # The first failure after the batch's last success (or in the whole batch).
    failing_since: datetime | None


def _outcomes(results: Sequence[AttemptResult]) -> dict[str, _WebhookOutcome]:
    outcomes: dict[str, _WebhookOutcome] = {}
    for r in sorted(results, key=lambda r: r.finished_at):
        if r.state == "skipped":
            continue
        seen = outcomes.get(r.webhook_id)
        if seen is None:
            seen = outcomes[r.webhook_id] = _WebhookOutcome(r, False, False, None)
        seen.last = r
        seen.gone = seen.gone or r.webhook_gone
        if r.success:
            seen.any_success, seen.failing_since = True, None
        elif seen.failing_since is None:
            seen.failing_since = r.finished_at
    return outcomes


def _health_row(
    current: sa.Row[Any], outcome: _WebhookOutcome, suspend_before: datetime
) -> dict[str, Any]:
    """The webhook's new health, from its row and the batch's outcome for it."""
    active: bool = current.active
    failing_since = outcome.failing_since
    if not outcome.any_success and failing_since is not None:
        failing_since = current.failing_since or failing_since
    if outcome.gone:
        status, active = "suspended", False
    elif current.status == "suspended":
        status = "suspended"  # only re-activation (PATCH active: true) ends a suspension
    elif outcome.last.success:
        status = "healthy"
    elif failing_since is not None and failing_since <= suspend_before:
        status = "suspended"
    else:
        status = "unhealthy"
    changed = status != current.status or active != current.active
    return {
        "b_id": current.id,
        "b_status": status,
        "b_active": active,
        "b_failing_since": failing_since,
        "b_last_delivery_at": outcome.last.finished_at,
        "b_last_status_code": outcome.last.status_code,
        "b_version_step": 1 if changed else 0,
    }


class DeliveryStore(WebhookStore):
    """The queue operations a worker performs, and the manual ones a person triggers."""

    def _due_conditions(
        self, now: datetime, exclude_webhook_ids: Collection[str]
    ) -> list[sa.ColumnElement[bool]]:
        conditions = [_d.c.state == "pending", _d.c.next_attempt_at <= now]
        if exclude_webhook_ids:
            conditions.append(_d.c.webhook_id.not_in(list(exclude_webhook_ids)))
        # Per-webhook FIFO ordering (webhooks.ordering = 'fifo') becomes one more
        # condition here: for such webhooks, NOT EXISTS an older pending delivery
        # of the same webhook (the (webhook_id, state, created_at) index serves it).
        # A leased delivery is still pending, so the next one waits for its outcome.
        return conditions

    async def claim_due_deliveries(
        self,
        worker_id: str,
        limit: int,
        lease_seconds: float,
        exclude_webhook_ids: Collection[str] = (),
    ) -> list[ClaimedDelivery]:
        """Lease up to ``limit`` due deliveries (oldest due first) with their payloads.

        Deliveries of ``exclude_webhook_ids`` (webhooks the worker has saturated)
        are left for later. Concurrent workers never claim the same delivery.
        """
        now = utcnow()
        lease = {
            "next_attempt_at": now + timedelta(seconds=lease_seconds),
            "lease_owner": worker_id,
        }
        due = (
            sa.select(_d.c.id)
            .where(*self._due_conditions(now, exclude_webhook_ids))
            .order_by(_d.c.next_attempt_at)
            .limit(limit)
        )
        joins = (
            t.events.c.tenant_id == _d.c.tenant_id,
            t.events.c.id == _d.c.event_id,
            t.webhooks.c.id == _d.c.webhook_id,
        )
        columns = (
            _d.c.id,
            _d.c.tenant_id,
            _d.c.event_id,
            _d.c.webhook_id,
            _d.c.event_type,
            _d.c.attempts,
            _d.c.next_trigger,
            _d.c.retry_reason,
            t.events.c.payload,
            t.webhooks.c.version,
        )
        async with self.write() as conn:
            if self.is_sqlite:
                # The write transaction holds SQLite's one write lock, so the
                # select-then-update pair cannot interleave with another claim.
                rows = (
                    await conn.execute(sa.select(*columns).where(_d.c.id.in_(due), *joins))
                ).all()
                if rows:
                    await conn.execute(
                        _d.update().where(_d.c.id.in_([r.id for r in rows])).values(**lease)
                    )
            else:
                locked = due.with_for_update(skip_locked=True)
                claim = _d.update().where(_d.c.id.in_(locked), *joins).values(**lease)
                rows = (await conn.execute(claim.returning(*columns))).all()
        return [
            ClaimedDelivery(
                id=r.id,
                tenant_id=r.tenant_id,
                event_id=r.event_id,
                webhook_id=r.webhook_id,
                event_type=r.event_type,
                attempts=r.attempts,
                trigger=r.next_trigger,
                retry_reason=r.retry_reason,
                payload=bytes(r.payload),
                webhook_version=r.version,
            )
            for r in sorted(rows, key=lambda r: r.id)
        ]

    async def record_attempts(
        self,
        worker_id: str,
        results: Sequence[AttemptResult],
        *,
        suspend_after_seconds: float = DEFAULT_SUSPEND_AFTER_SECONDS,
    ) -> None:
        """Store a batch of finished attempts in one transaction.

        Updates the deliveries still leased by ``worker_id``, appends every
        attempt to the event log (the request was made either way), and updates
        each webhook's health: a success makes it healthy, a failure unhealthy,
        failures for ``suspend_after_seconds`` or a 410 suspend it.
        """
        if not results:
            return
        async with self.write() as conn:
            await self._record(conn, worker_id, results, suspend_after_seconds)

    @functools.cached_property
    def _complete_batch(self) -> _Executemany:
        return _Executemany(_COMPLETE, self.engine.dialect, _COMPLETE_ROW, ("b_owner", "b_now"))

    @functools.cached_property
    def _log_batch(self) -> _Executemany:
        return _Executemany(t.log_entries.insert(), self.engine.dialect, LOG_ENTRY_COLUMNS)

    async def _record(
        self,
        conn: AsyncConnection,
        worker_id: str,
        results: Sequence[AttemptResult],
        suspend_after_seconds: float,
    ) -> None:
        now = utcnow()
        # In id order, so that concurrent workers lock deliveries in one order.
        deliveries = [
            (
                r.delivery_id,
                r.state,
                r.attempt,
                r.next_attempt_at,
                r.next_retry_reason,
                r.status_code,
            )
            for r in sorted(results, key=lambda r: r.delivery_id)
        ]
        updated = await self._complete_batch.execute(conn, deliveries, worker_id, now)
        if updated != len(results):
            # Some were not updated: a lost lease, or a webhook (or tenant) deleted
            # while the request was in flight, which took the delivery with it and
            # leaves its log entry nothing to belong to.
            ids = [r.delivery_id for r in results]
            if self.is_sqlite:
                found = await conn.scalars(sa.select(_d.c.id).where(_d.c.id.in_(ids)))
            else:
                # One array parameter: no statement text to expand per batch.
                found = await conn.scalars(_EXISTING, {"b_ids": ids})
            existing = set(found)
            if len(existing) < len(results):
                results = [r for r in results if r.delivery_id in existing]
            if not results:
                return
        await self._log_batch.execute(conn, log_entry_rows(results))
        outcomes = _outcomes(results)
        if outcomes:
            suspend_before = now - timedelta(seconds=suspend_after_seconds)
            await self._update_health(conn, outcomes, suspend_before)

    async def _update_health(
        self,
        conn: AsyncConnection,
        outcomes: dict[str, _WebhookOutcome],
        suspend_before: datetime,
    ) -> None:
        w = t.webhooks
        query = (
            sa.select(w.c.id, w.c.status, w.c.active, w.c.failing_since)
            .where(w.c.id.in_(sorted(outcomes)))
            .order_by(w.c.id)
        )
        if not self.is_sqlite:
            # Locked in id order, so concurrent workers' batches cannot deadlock.
            query = query.with_for_update()
        current = (await conn.execute(query)).all()
        if current:
            rows = [_health_row(row, outcomes[row.id], suspend_before) for row in current]
            await conn.execute(_UPDATE_HEALTH, rows)

    async def release_deliveries(
        self, worker_id: str, ids_with_due_times: Sequence[tuple[str, datetime]]
    ) -> None:
        """Give back claimed but unsent deliveries, due again at the given times."""
        if not ids_with_due_times:
            return
        rows = [
            {"b_id": delivery_id, "b_owner": worker_id, "b_due": due}
            for delivery_id, due in sorted(ids_with_due_times)
        ]
        async with self.write() as conn:
            await conn.execute(_RELEASE, rows)

    async def get_webhooks_by_id(self, webhook_ids: Collection[str]) -> list[Webhook]:
        """Webhooks by id, whatever their tenant (the worker's settings cache)."""
        if not webhook_ids:
            return []
        async with self.read() as conn:
            rows = (
                await conn.execute(
                    t.webhooks.select().where(t.webhooks.c.id.in_(list(webhook_ids)))
                )
            ).all()
        return [self._webhook(r) for r in rows]

    async def next_due_time(self) -> datetime | None:
        """When the earliest pending delivery comes due (or its lease runs out)."""
        async with self.read() as conn:
            due: datetime | None = await conn.scalar(
                sa.select(sa.func.min(_d.c.next_attempt_at)).where(_d.c.state == "pending")
            )
        return due

    async def get_delivery(self, tenant_id: str, delivery_id: str) -> Delivery:
        """One delivery; NotFound for another tenant's."""
        async with self.read() as conn:
            row = (
                await conn.execute(
                    _d.select().where(_d.c.id == delivery_id, _d.c.tenant_id == tenant_id)
                )
            ).first()
        if row is None:
            raise NotFound(f"delivery {delivery_id!r} not found")
        return delivery_record(row)

    async def list_pending_deliveries(
        self, tenant_id: str, webhook_id: str, limit: int = 100
    ) -> list[Delivery]:
        """A webhook's pending deliveries, oldest first (served by its (webhook, state) index)."""
        async with self.read() as conn:
            rows = (
                await conn.execute(
                    _d.select()
                    .where(
                        _d.c.webhook_id == webhook_id,
                        _d.c.state == "pending",
                        _d.c.tenant_id == tenant_id,
                    )
                    .order_by(_d.c.created_at)
                    .limit(limit)
                )
            ).all()
        return [delivery_record(r) for r in rows]

    def _due_now(self, now: datetime) -> dict[str, Any]:
        return {
            "state": "pending",
            "next_attempt_at": now,
            "lease_owner": None,
            "next_trigger": "manual",
            "retry_reason": MANUAL_RESEND_REASON,
            "updated_at": now,
        }

    async def _wake_workers(self, conn: AsyncConnection) -> None:
        if not self.is_sqlite:
            await conn.execute(sa.text(f"NOTIFY {NOTIFY_CHANNEL}"))

    async def resend_delivery(self, tenant_id: str, delivery_id: str) -> Delivery:
        """Send a delivery again now, whatever its state (logged as a manual resend)."""
        async with self.write() as conn:
            result = await conn.execute(
                _d.update()
                .where(_d.c.id == delivery_id, _d.c.tenant_id == tenant_id)
                .values(**self._due_now(utcnow()))
            )
            if result.rowcount == 0:
                raise NotFound(f"delivery {delivery_id!r} not found")
            await self._wake_workers(conn)
        self.notify_wakeup()
        return await self.get_delivery(tenant_id, delivery_id)

    async def recover_webhook(self, tenant_id: str, webhook_id: str, since: datetime) -> int:
        """Resend every failed or skipped delivery of a webhook created since ``since``.

        Returns how many deliveries were queued again.
        """
        async with self.write() as conn:
            await self.require_owned(conn, t.webhooks, webhook_id, tenant_id, "webhook")
            result = await conn.execute(
                _d.update()
                .where(
                    _d.c.webhook_id == webhook_id,
                    _d.c.state.in_(("failed", "skipped")),
                    _d.c.created_at >= since,
                )
                .values(**self._due_now(utcnow()))
            )
            count = int(result.rowcount)
            if count:
                await self._wake_workers(conn)
        if count:
            self.notify_wakeup()
        return count
