"""Accepting events: each stored with its deliveries before the caller hears back.

Concurrent callers share transactions (:class:`~hookwire.storage.coordination.
GroupCommit`): one round writes every event queued so far, and an event is
acknowledged only after the commit that holds it. Which webhooks an event goes
to is :mod:`hookwire.fanout`'s rule.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from hookwire import fanout
from hookwire.enums import DeliveryState, Trigger
from hookwire.errors import Conflict, NotFound
from hookwire.ids import new_id
from hookwire.records import Delivery, Event
from hookwire.storage import tables as t
from hookwire.storage.coordination import GroupCommit
from hookwire.storage.dialects import Dialect
from hookwire.storage.events import SKIPPED_ERROR, EventStore

# Events written in one transaction at most; more wait for the next round.
MAX_EVENTS_PER_COMMIT = 500

# Every round runs these; built once, with a list bound per round, instead of
# building the statement objects again each time (SQLAlchemy's statement
# construction was a tenth of an event's CPU in a profile of ingest).
_W = t.webhooks
_EXISTING_TENANTS = sa.select(t.tenants.c.id).where(
    t.tenants.c.id.in_(sa.bindparam("ids", expanding=True))
)
_CANDIDATE_COLUMNS = (
    _W.c.id,
    _W.c.tenant_id,
    _W.c.events,
    _W.c.status,
    _W.c.active,
    _W.c.created_at,
)
# A tenant's webhooks an event may go to: enabled, or suspended (which get a
# skipped delivery that can be recovered).
_TENANTS_WEBHOOKS = sa.select(*_CANDIDATE_COLUMNS).where(
    _W.c.tenant_id.in_(sa.bindparam("tenants", expanding=True)),
    sa.or_(_W.c.active.is_(True), _W.c.status == "suspended"),
)
# The one webhook of a test event, whatever its state.
_SINGLE_WEBHOOKS = sa.select(*_CANDIDATE_COLUMNS).where(
    _W.c.id.in_(sa.bindparam("ids", expanding=True))
)
_INSERT_EVENTS = t.events.insert()
_INSERT_DELIVERIES = t.deliveries.insert()
_INSERT_LOGS = t.log_entries.insert()


class _Repeated(Exception):
    """The event's id or idempotency key is taken (by an earlier or concurrent event)."""


@dataclass(slots=True)
class _Accept:
    """One queued event and the future its caller waits on."""

    tenant_id: str
    event_id: str
    event_type: str
    payload: bytes
    triggered_at: datetime
    idempotency_key: str | None
    only_webhook_id: str | None
    future: asyncio.Future[Event] = field(repr=False)
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    logs: list[dict[str, Any]] = field(default_factory=list)

    def event(self) -> Event:
        return Event(
            tenant_id=self.tenant_id,
            id=self.event_id,
            event_type=self.event_type,
            payload=self.payload,
            idempotency_key=self.idempotency_key,
            triggered_at=self.triggered_at,
            deliveries=[
                Delivery(**{k: v for k, v in row.items() if k != "lease_owner"})
                for row in sorted(self.deliveries, key=lambda row: str(row["id"]))
            ],
        )


class AcceptStore(EventStore):
    """``accept_event``, with group commit across concurrent callers."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._group_commit: GroupCommit[_Accept] = GroupCommit(
            self._write_round, MAX_EVENTS_PER_COMMIT
        )

    async def accept_event(
        self,
        tenant_id: str,
        event_id: str | None,
        event_type: str,
        payload: bytes,
        triggered_at: datetime,
        idempotency_key: str | None = None,
        only_webhook_id: str | None = None,
    ) -> tuple[Event, bool]:
        """Store an event and one delivery per matching webhook in one transaction.

        Matching webhooks are the tenant's active ones that subscribe to the
        type (or only ``only_webhook_id``, for test events). A suspended one
        (failing for too long, or deactivated by a 410) gets a ``skipped``
        delivery with a log entry, so it can be recovered later; one a person
        disabled gets nothing, as the seed's "Enabled" checkbox promises.
        Returns ``(event, created)``; ``created`` is False when ``event_id`` or
        ``idempotency_key`` repeats an earlier event, which is returned instead.
        """
        existing = await self._find_repeat(tenant_id, event_id, idempotency_key)
        if existing is not None:
            return existing, False
        request = _Accept(
            tenant_id=tenant_id,
            event_id=event_id or new_id("evt"),
            event_type=event_type,
            payload=payload,
            triggered_at=triggered_at,
            idempotency_key=idempotency_key,
            only_webhook_id=only_webhook_id,
            future=asyncio.get_running_loop().create_future(),
        )
        # A caller that gives up (cancelled) leaves its event queued: it is
        # still written, and its outcome must not be reported as unretrieved.
        request.future.add_done_callback(_retrieve)
        await self._group_commit.submit(request)
        try:
            return request.future.result(), True
        except _Repeated:
            existing = await self._find_repeat(tenant_id, event_id, idempotency_key)
            if existing is None:  # the event it collided with was rolled back meanwhile
                raise Conflict(
                    "a concurrent request with the same event id or Idempotency-Key "
                    "failed; send this one again"
                ) from None
            return existing, False

    async def _write_round(self, batch: list[_Accept]) -> None:
        """Write ``batch`` in one transaction; on a collision, each event on its own."""
        try:
            await self._write(batch)
        except IntegrityError:
            open_requests = [r for r in batch if not r.future.done()]
            if len(open_requests) == 1:
                open_requests[0].future.set_exception(_Repeated())
                return
            for request in open_requests:  # find the one that collided; the rest go in
                request.deliveries, request.logs = [], []
                await self._write_round([request])
            return
        except Exception as exc:
            for request in batch:
                if not request.future.done():
                    request.future.set_exception(exc)
            return
        if any(r.deliveries for r in batch):
            self.signals.wake()
        for request in batch:
            if not request.future.done():
                request.future.set_result(request.event())

    async def _write(self, batch: list[_Accept]) -> None:
        async with self.write() as conn:
            tenants = list({r.tenant_id for r in batch})
            found = set((await conn.execute(_EXISTING_TENANTS, {"ids": tenants})).scalars())
            for request in batch:
                if request.tenant_id not in found:
                    request.future.set_exception(
                        NotFound(f"tenant {request.tenant_id!r} not found")
                    )
            batch = [r for r in batch if not r.future.done()]
            if not batch:
                return
            hooks = await self._candidate_webhooks(conn, batch)
            for request in batch:
                request.deliveries, request.logs = fan_out(
                    request.tenant_id,
                    request.event_id,
                    request.event_type,
                    request.triggered_at,
                    hooks.get(request.tenant_id, []),
                    request.only_webhook_id,
                )
            await insert_events(
                conn,
                self.dialect,
                [
                    {
                        "tenant_id": r.tenant_id,
                        "id": r.event_id,
                        "event_type": r.event_type,
                        "payload": r.payload,
                        "idempotency_key": r.idempotency_key,
                        "triggered_at": r.triggered_at,
                    }
                    for r in batch
                ],
                [row for r in batch for row in r.deliveries],
                [row for r in batch for row in r.logs],
            )

    async def _candidate_webhooks(
        self, conn: AsyncConnection, batch: Iterable[_Accept]
    ) -> dict[str, list[sa.Row[Any]]]:
        """Per tenant, the webhooks an event of the batch may go to."""
        tenants = list({r.tenant_id for r in batch if r.only_webhook_id is None})
        singles = list({r.only_webhook_id for r in batch if r.only_webhook_id is not None})
        hooks: dict[str, sa.Row[Any]] = {}
        if tenants:
            for hook in await conn.execute(_TENANTS_WEBHOOKS, {"tenants": tenants}):
                hooks[hook.id] = hook
        if singles:
            for hook in await conn.execute(_SINGLE_WEBHOOKS, {"ids": singles}):
                hooks[hook.id] = hook
        return _by_tenant(hooks.values())


async def tenants_webhooks(
    conn: AsyncConnection, tenants: Iterable[str]
) -> dict[str, list[sa.Row[Any]]]:
    """Per tenant, in creation order, the webhooks its events may go to (``fan_out``'s input)."""
    return _by_tenant(await conn.execute(_TENANTS_WEBHOOKS, {"tenants": list(tenants)}))


def _by_tenant(hooks: Iterable[sa.Row[Any]]) -> dict[str, list[sa.Row[Any]]]:
    by_tenant: dict[str, list[sa.Row[Any]]] = {}
    # In creation order, whichever statement found them: sorted once, here.
    for hook in sorted(hooks, key=lambda h: (h.created_at, h.id)):
        by_tenant.setdefault(hook.tenant_id, []).append(hook)
    return by_tenant


async def insert_events(
    conn: AsyncConnection,
    dialect: Dialect,
    events: list[dict[str, Any]],
    deliveries: list[dict[str, Any]],
    logs: list[dict[str, Any]],
) -> None:
    """Insert events with their deliveries and skipped log entries; wake the workers."""
    await conn.execute(_INSERT_EVENTS, events)
    if deliveries:
        await conn.execute(_INSERT_DELIVERIES, deliveries)
    if logs:
        await conn.execute(_INSERT_LOGS, logs)
    if deliveries:
        await dialect.wake_workers(conn)


def _retrieve(future: asyncio.Future[Event]) -> None:
    if not future.cancelled():
        future.exception()


def fan_out(
    tenant_id: str,
    event_id: str,
    event_type: str,
    now: datetime,
    hooks: list[sa.Row[Any]],
    single: str | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The rows of an event's deliveries, and of its skipped log entries, to the tenant's
    webhooks ``hooks`` (only ``single``'s, for a test event)."""
    deliveries: list[dict[str, Any]] = []
    logs: list[dict[str, Any]] = []
    for hook in hooks:
        subscriber = fanout.Subscriber(hook.id, hook.events, hook.active, hook.status)
        state = fanout.route(event_type, subscriber, single)
        if state is None:
            continue
        skipped = state is DeliveryState.SKIPPED
        delivery_id = new_id("dlv")
        deliveries.append(
            {
                "id": delivery_id,
                "tenant_id": tenant_id,
                "event_id": event_id,
                "webhook_id": hook.id,
                "event_type": event_type,
                "state": state,
                "attempts": 0,
                "next_attempt_at": None if skipped else now,
                "lease_owner": None,
                "next_trigger": Trigger.TEST if single else Trigger.SCHEDULED,
                "retry_reason": None,
                "last_status_code": None,
                "created_at": now,
                "updated_at": now,
            }
        )
        if skipped:
            logs.append(
                {
                    "id": new_id("log"),
                    "tenant_id": tenant_id,
                    "delivery_id": delivery_id,
                    "webhook_id": hook.id,
                    "event_id": event_id,
                    "event_type": event_type,
                    "attempt": 0,
                    "trigger": "scheduled",
                    "sent_at": None,
                    "received_at": None,
                    "duration_ms": None,
                    "status_code": None,
                    "success": False,
                    "retry_reason": None,
                    "error": SKIPPED_ERROR,
                    "request_headers": {},
                    "response_headers": None,
                    "response_body": None,
                    "created_at": now,
                }
            )
    return deliveries, logs
