"""The delivery queue: claim due deliveries, record finished attempts, release, resend, recover.

For a pending delivery ``next_attempt_at`` is both its due time and its lease:
a claim moves it to ``now + lease`` and names the worker in ``lease_owner``.
A worker that dies lets its deliveries come due again; a worker whose lease
ran out finds ``lease_owner`` changed and its completion no longer applies.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from hookwire import health, operational
from hookwire.config import DEFAULT_SUSPEND_AFTER_SECONDS
from hookwire.enums import DeliveryState, Ordering, Trigger, WebhookStatus
from hookwire.errors import NotFound, StorageFailure, Unavailable
from hookwire.records import AttemptResult, Delivery, Webhook
from hookwire.storage import tables as t
from hookwire.storage.base import utcnow
from hookwire.storage.batch import Executemany
from hookwire.storage.events import delivery_record
from hookwire.storage.logs import LogStore, log_entry_rows
from hookwire.storage.operational import emit_notices
from hookwire.storage.webhooks import WebhookStore

MANUAL_RESEND_REASON = "manual resend"
UNSTORABLE_RESPONSE = "(the response could not be stored)"

log = logging.getLogger("hookwire.storage")

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


def _kind(exc: Exception) -> str:
    # A StorageFailure's text is safe to log by construction; any other error's
    # text might quote the data, so only its class is named.
    return str(exc) if isinstance(exc, StorageFailure) else type(exc).__name__


def without_response(result: AttemptResult) -> AttemptResult:
    """``result`` without the parts a receiver chose (its headers and body), saying so."""
    error = f"{result.error} {UNSTORABLE_RESPONSE}" if result.error else UNSTORABLE_RESPONSE
    return dataclasses.replace(result, response_headers=None, response_body=None, error=error)


class DeliveryStore(WebhookStore, LogStore):
    """The queue operations a worker performs, and the manual ones a person triggers."""

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
        try:
            async with self.write() as conn:
                changed = await self._record(conn, worker_id, results, suspend_after_seconds)
            self.signals.changed("webhook", changed)
            return
        except Unavailable:
            raise  # the whole batch waits for the database to come back
        except Exception as exc:
            # Something in the batch cannot be stored (bytes a receiver sent that
            # the database refuses, say). One bad row must not hold up the others,
            # nor leave their leases to run out and be sent twice: each goes alone.
            log.warning(
                "a batch of %d attempts could not be recorded (%s); recording them one by one",
                len(results),
                _kind(exc),
            )
        for result in results:
            await self._record_alone(worker_id, result, suspend_after_seconds)

    async def _record_alone(
        self, worker_id: str, result: AttemptResult, suspend_after_seconds: float
    ) -> None:
        """Record one attempt; if it cannot be stored, store it without what the receiver sent."""
        for attempt in (result, without_response(result)):
            try:
                async with self.write() as conn:
                    changed = await self._record(conn, worker_id, [attempt], suspend_after_seconds)
                self.signals.changed("webhook", changed)
                return
            except Unavailable:
                raise
            except Exception as exc:
                error = _kind(exc)
        log.error(
            "the attempt of delivery %s cannot be recorded (%s); it will be sent again "
            "once its lease runs out",
            result.delivery_id,
            error,
        )

    @functools.cached_property
    def _complete_batch(self) -> Executemany:
        return Executemany(_COMPLETE, self.engine.dialect, _COMPLETE_ROW, ("b_owner", "b_now"))

    async def _record(
        self,
        conn: AsyncConnection,
        worker_id: str,
        results: Sequence[AttemptResult],
        suspend_after_seconds: float,
    ) -> list[str]:
        """Write a batch in ``conn``'s transaction; the webhooks whose status changed."""
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
            results = await self._still_to_log(conn, results)
            if not results:
                return []
        await self._log_batch.execute(conn, log_entry_rows(results))
        outcomes = health.outcomes(results)
        if not outcomes:
            return []
        suspend_before = now - timedelta(seconds=suspend_after_seconds)
        moves: list[operational.Move] = []
        changed = await self._update_health(conn, outcomes, suspend_before, moves)
        # hookwire.* events about these changes, committed with them (or not at all).
        if await emit_notices(conn, self.dialect, results, moves, now):
            self.signals.wake()
        return changed

    async def _still_to_log(
        self, conn: AsyncConnection, results: Sequence[AttemptResult]
    ) -> Sequence[AttemptResult]:
        """Of a batch whose deliveries were not all updated, the attempts to log.

        Not updated means a lost lease (the attempt is logged: the request was
        made), a webhook (or tenant) deleted while the request was in flight
        (its delivery went with it, leaving the entry nothing to belong to), or
        this very batch already written by a commit whose answer was lost: its
        log entries exist under the ids chosen before the first try, and its
        health changes and notices are stored with them.
        """
        existing = await self.dialect.existing(conn, _d.c.id, [r.delivery_id for r in results])
        results = [r for r in results if r.delivery_id in existing]
        if not results:
            return results
        logs = t.log_entries
        logged = set(
            await conn.scalars(
                sa.select(logs.c.id).where(
                    logs.c.delivery_id.in_({r.delivery_id for r in results}),
                    logs.c.id.in_([r.log_id for r in results]),
                )
            )
        )
        return [r for r in results if r.log_id not in logged]

    async def _update_health(
        self,
        conn: AsyncConnection,
        outcomes: dict[str, health.Outcome],
        suspend_before: datetime,
        moves: list[operational.Move],
    ) -> list[str]:
        """Store each webhook's new health; the ids whose status or activity changed.

        Each status change is also appended to ``moves``.
        """
        w = t.webhooks
        query = self.dialect.lock_rows(
            sa.select(w.c.id, w.c.status, w.c.active, w.c.failing_since)
            .where(w.c.id.in_(sorted(outcomes)))
            .order_by(w.c.id)  # locked in id order: concurrent batches cannot deadlock
        )
        current = (await conn.execute(query)).all()
        if not current:
            return []
        rows, changed = [], []
        for row in current:
            outcome = outcomes[row.id]
            before = health.Health(WebhookStatus(row.status), row.active, row.failing_since)
            after = health.next_health(before, outcome, suspend_before)
            # Only a change the worker acts on (status, active) bumps the version.
            moved = (after.status, after.active) != (before.status, before.active)
            rows.append(
                {
                    "b_id": row.id,
                    "b_status": after.status,
                    "b_active": after.active,
                    "b_failing_since": after.failing_since,
                    "b_last_delivery_at": outcome.last_finished_at,
                    "b_last_status_code": outcome.last_status_code,
                    "b_version_step": 1 if moved else 0,
                }
            )
            if moved:
                changed.append(row.id)
            if after.status != before.status:
                moves.append(operational.Move(row.id, before.status, after.status))
        await conn.execute(_UPDATE_HEALTH, rows)
        # Workers stop sending to a webhook that this batch suspended.
        await self._announce(conn, "webhook", changed)
        return changed

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

    async def get_webhooks_by_id(self, webhook_ids: Collection[str]) -> list[tuple[Webhook, str]]:
        """Webhooks by id, whatever their tenant, each with its tenant's name (the
        worker's settings cache: chat messages name the tenant)."""
        if not webhook_ids:
            return []
        w = t.webhooks
        query = (
            sa.select(w, t.tenants.c.name.label("tenant_name"))
            .join(t.tenants, t.tenants.c.id == w.c.tenant_id)
            .where(w.c.id.in_(list(webhook_ids)))
        )
        async with self.read() as conn:
            rows = (await conn.execute(query)).all()
        return [(self._webhook(r), r.tenant_name) for r in rows]

    async def next_due_time(self) -> datetime | None:
        """When the earliest pending delivery comes due (or its lease runs out).

        A FIFO webhook's deliveries behind its head come due with the head.
        """
        w, head = t.webhooks, _d.alias("head")
        head_seq = (
            sa.select(sa.func.min(head.c.seq))
            .where(head.c.webhook_id == _d.c.webhook_id, head.c.state == "pending")
            .scalar_subquery()
        )
        query = (
            sa.select(sa.func.min(_d.c.next_attempt_at))
            .select_from(_d.join(w, w.c.id == _d.c.webhook_id))
            .where(
                _d.c.state == "pending",
                sa.or_(
                    w.c.ordering != Ordering.FIFO,
                    w.c.active.is_(False),
                    w.c.status == WebhookStatus.SUSPENDED,
                    _d.c.seq == head_seq,
                ),
            )
        )
        async with self.read() as conn:
            due: datetime | None = await conn.scalar(query)
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
        """A webhook's pending deliveries, oldest first (served by its (webhook, state, seq)
        index: a FIFO webhook's in the order it sends them)."""
        async with self.read() as conn:
            rows = (
                await conn.execute(
                    _d.select()
                    .where(
                        _d.c.webhook_id == webhook_id,
                        _d.c.state == "pending",
                        _d.c.tenant_id == tenant_id,
                    )
                    .order_by(_d.c.seq)
                    .limit(limit)
                )
            ).all()
        return [delivery_record(r) for r in rows]

    def _due_now(self, now: datetime) -> dict[str, Any]:
        return {
            "state": "pending",
            "next_attempt_at": now,
            "lease_owner": None,
            "next_trigger": Trigger.MANUAL,
            "retry_reason": MANUAL_RESEND_REASON,
            "updated_at": now,
        }

    async def resend_delivery(self, tenant_id: str, delivery_id: str) -> Delivery:
        """Send a delivery again now, whatever its state (logged as a manual resend).

        A FIFO webhook's delivery in flight right now is left as it is (it is
        being sent): freeing its lease would let a second request start beside it.
        """
        now = utcnow()
        fifo_in_flight = sa.and_(
            _d.c.lease_owner.is_not(None),
            _d.c.next_attempt_at > now,
            sa.exists().where(
                t.webhooks.c.id == _d.c.webhook_id, t.webhooks.c.ordering == Ordering.FIFO
            ),
        )
        async with self.write() as conn:
            result = await conn.execute(
                _d.update()
                .where(_d.c.id == delivery_id, _d.c.tenant_id == tenant_id, ~fifo_in_flight)
                .values(**self._due_now(now))
            )
            if result.rowcount:
                await self.dialect.wake_workers(conn)
        if result.rowcount:
            self.signals.wake()
        return await self.get_delivery(tenant_id, delivery_id)  # NotFound if it is not there

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
                    _d.c.state.in_((DeliveryState.FAILED, DeliveryState.SKIPPED)),
                    _d.c.created_at >= since,
                )
                .values(**self._due_now(utcnow()))
            )
            count = int(result.rowcount)
            if count:
                await self.dialect.wake_workers(conn)
        if count:
            self.signals.wake()
        return count
