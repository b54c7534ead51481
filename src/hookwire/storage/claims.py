"""Claiming due deliveries: who sends what next, within every webhook's caps.

A claim is one write transaction:

1. the due deliveries, oldest first (on PostgreSQL ``FOR UPDATE SKIP LOCKED``,
   so concurrent claims take different rows);
2. their webhooks' caps, each webhook locked for the rest of the transaction
   (:meth:`~hookwire.storage.dialects.Dialect.lock_webhooks`: on PostgreSQL an
   advisory lock per webhook, skipping the webhooks another claim holds; on
   SQLite the database's one write lock);
3. each webhook's deliveries under a lease right now, and when a rate-limited
   one may start next — read only after the lock, so no other claim of that
   webhook can be between the count and the lease;
4. :func:`hookwire.capacity.pick` decides, and the chosen deliveries are leased.

``next_attempt_at`` is a pending delivery's due time and, once claimed, the end
of its lease. A claim that takes over a lease which ran out (its worker died or
lost the database) logs the attempt it cannot know the fate of as
``outcome unknown (worker stopped)``, so every request a receiver may have seen
is in the event log; the retry that follows carries that reason.

FIFO webhooks (``ordering: fifo``)
----------------------------------

A FIFO webhook receives one request at a time, in the order its events were
accepted: the next delivery is not sent until the one before succeeded or
finally failed.

*The order.* ``deliveries.seq``, a number the database gives each delivery as
it is stored (a sequence on PostgreSQL; on SQLite, whose writers are
serialised, one more than the row stored last). ``(created_at, id)`` is not
that order: ``created_at`` is the time the API read its clock, before the
event waited for its transaction (two concurrent requests can take their
times in one order and commit in the other), clocks of several processes
differ and may step back, and an id orders only by its millisecond (the rest
is random), so two events of one millisecond compare at random. A seq is
taken when the row is written: an event accepted (answered 202) before another
was sent always has the lower seq. Events sent concurrently to different
processes are ordered by their seq, one of the orders they could have had.

*The head.* A FIFO webhook's head is its pending delivery with the lowest seq.
A claim may take a FIFO webhook's head only, and only when none of that
webhook's deliveries is under a lease: a ``maxConcurrency`` of 1, plus
head-only. A head waiting for its retry (``next_attempt_at`` in the future,
``Retry-After`` included) holds back everything behind it, which is the point;
once it succeeds or finally fails it is no longer pending, and the next one is
the head. Skipped deliveries (webhook suspended or disabled) are not pending
and hold nothing back; a disabled or suspended FIFO webhook's scheduled
deliveries are claimed to be skipped as any webhook's are (nothing is sent).

*Across workers.* The head is looked up after the webhook's claim lock is
taken (the PostgreSQL advisory lock, or SQLite's one writer), and the leases
are counted after it too, so two claims can never both see the webhook idle;
the head's row is locked as well (skipping it if a concurrent transaction
holds it), so a worker finishing it at that moment cannot be overtaken. A
worker that dies leaves its lease to run out: the head is due again, and the
next claim takes it over (logging the unknown outcome), still before anything
after it. Delivery stays at-least-once: a request in flight when its worker
died may be sent again, but never one after a later delivery's first success.

*Resend and recover.* A resent delivery keeps its seq. A finished one (sent,
failed, skipped) is then older than anything still pending, so it is the head
at once: it is sent as soon as no request of the webhook is in flight, never
beside one, and the others keep their order behind it; if it fails, it is
retried on the schedule like any head. Recover (failed and skipped since a
time) puts each back in its place the same way: they go first, in their order.
A resend of a delivery still pending keeps its place (resending the head sends
it now); a resend of one in flight changes nothing (it is being sent).

*Changing ``ordering``.* From ``none`` to ``fifo``: requests in flight (and
deliveries a worker already holds) go as they were claimed; no claim takes
anything more until they are done, then one head at a time. From ``fifo`` to
``none``: the next claim takes in parallel again.

*Cost.* Nothing of this runs for a ``none`` webhook: the claim's statements
are those it had, plus one column read with the webhook's caps. Per FIFO
webhook in a claim, one index probe (``(webhook_id, state, seq)``) finds its
head. A blocked FIFO webhook is reported in :attr:`Claim.blocked` with the
time its head comes due, so that the worker leaves its backlog out of its
next claims until then.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from hookwire import capacity
from hookwire.enums import Ordering, Trigger
from hookwire.ids import new_id
from hookwire.records import Blocker, Claim, ClaimedDelivery
from hookwire.storage import tables as t
from hookwire.storage.base import utcnow
from hookwire.storage.batch import Executemany
from hookwire.storage.logs import LOG_ENTRY_COLUMNS, LogStore

UNKNOWN_OUTCOME = "outcome unknown (worker stopped)"
# A claim looks at this many due deliveries per one it may take: webhooks at
# their cap, or held by another claim, leave their deliveries behind.
CLAIM_SCAN_FACTOR = 2

_d = t.deliveries
# Literal, not a bound parameter: PostgreSQL matches a partial index's
# predicate only against constants, also in generic plans of prepared statements.
_PENDING = _d.c.state == sa.literal_column("'pending'")


# What a claim reads of a candidate delivery (the fields of _Candidate, in order).
_CANDIDATE_COLUMNS = (
    _d.c.id,
    _d.c.tenant_id,
    _d.c.event_id,
    _d.c.webhook_id,
    _d.c.event_type,
    _d.c.attempts,
    _d.c.next_trigger,
    _d.c.retry_reason,
    _d.c.lease_owner,
)


# Every claim runs the statements below: built once, with values bound per
# claim, instead of building the statement objects again on the worker's hot
# path (as storage/accept.py does for accepting events).
def _due_query(excluding: bool) -> sa.Select[Any]:
    """The due deliveries, oldest first; ``excluding``: not of the webhooks bound as
    ``exclude``."""
    query = (
        sa.select(*_CANDIDATE_COLUMNS)
        .where(_PENDING, _d.c.next_attempt_at <= sa.bindparam("now"))
        .order_by(_d.c.next_attempt_at)
        .limit(sa.bindparam("scan"))
    )
    if excluding:
        query = query.where(_d.c.webhook_id.not_in(sa.bindparam("exclude", expanding=True)))
    return query


# Leased deliveries per webhook: all of them, and the claiming worker's.
_LEASED = (
    sa.select(
        _d.c.webhook_id,
        sa.func.count(),
        sa.func.count().filter(_d.c.lease_owner == sa.bindparam("worker")),
    )
    .where(
        _d.c.webhook_id.in_(sa.bindparam("webhooks", expanding=True)),
        _PENDING,
        _d.c.lease_owner.is_not(None),
        _d.c.next_attempt_at > sa.bindparam("now"),
    )
    .group_by(_d.c.webhook_id)
)
# The id of a FIFO webhook's head: its pending delivery stored first (one probe of
# the (webhook_id, state, seq) index).
_HEAD_ID = (
    sa.select(_d.c.id)
    .where(_d.c.webhook_id == sa.bindparam("webhook"), _PENDING)
    .order_by(_d.c.seq)
    .limit(1)
    .scalar_subquery()
)
# The head's claim columns, if it is still pending
# (its row is locked by the claim as it must lock it, see Dialect.claim_rows).
_HEAD = sa.select(*_CANDIDATE_COLUMNS, _d.c.next_attempt_at).where(_PENDING, _d.c.id == _HEAD_ID)
# The same head, read for the dashboard and the API (nothing locked).
_BLOCKER = sa.select(
    _d.c.id,
    _d.c.event_id,
    _d.c.event_type,
    _d.c.attempts,
    _d.c.last_status_code,
    _d.c.retry_reason,
    _d.c.lease_owner,
    _d.c.next_attempt_at,
).where(_PENDING, _d.c.id == _HEAD_ID)
_NEXT_STARTS = sa.select(t.webhook_pacing.c.webhook_id, t.webhook_pacing.c.next_start_at).where(
    t.webhook_pacing.c.webhook_id.in_(sa.bindparam("webhooks", expanding=True))
)
# The body and the webhook version of each claimed delivery.
_PAYLOADS = (
    sa.select(_d.c.id, t.events.c.payload, t.webhooks.c.version)
    .join(
        t.events,
        sa.and_(t.events.c.tenant_id == _d.c.tenant_id, t.events.c.id == _d.c.event_id),
    )
    .join(t.webhooks, t.webhooks.c.id == _d.c.webhook_id)
    .where(_d.c.id.in_(sa.bindparam("ids", expanding=True)))
)

_LEASE = (
    _d.update()
    .where(_d.c.id == sa.bindparam("b_id"), _PENDING)
    .values(
        next_attempt_at=sa.bindparam("b_until"),
        lease_owner=sa.bindparam("b_owner"),
        attempts=sa.bindparam("b_attempts"),
        retry_reason=sa.bindparam("b_reason"),
    )
)
_LEASE_ROW = ("b_id", "b_until", "b_attempts", "b_reason")


@dataclass(frozen=True, slots=True)
class _Candidate:
    id: str
    tenant_id: str
    event_id: str
    webhook_id: str
    event_type: str
    attempts: int
    trigger: str
    retry_reason: str | None
    lease_owner: str | None  # set: a lease ran out, and is being taken over


class ClaimStore(LogStore):
    """The claim of the delivery queue."""

    async def claim_due_deliveries(
        self,
        worker_id: str,
        limit: int,
        lease_seconds: float,
        exclude_webhook_ids: Collection[str] = (),
        *,
        now: datetime | None = None,
    ) -> Claim:
        """Lease up to ``limit`` due deliveries, oldest due first, within their webhooks' caps.

        Deliveries of ``exclude_webhook_ids`` (webhooks the worker knows to be
        busy) are left for later. Concurrent claims, in any process, never take
        the same delivery nor more than a webhook's ``maxConcurrency``.
        """
        now = now or utcnow()
        async with self.write() as conn:
            candidates = await self._candidates(
                conn, now, limit * CLAIM_SCAN_FACTOR, exclude_webhook_ids
            )
            if not candidates:
                return Claim([], set())
            limits, fifo = await self._lock_webhooks(conn, {c.webhook_id for c in candidates})
            in_flight, mine, next_starts = await self._usage(conn, limits, now, worker_id)
            blocked: dict[str, datetime] = {}
            busy: set[str] = set()
            if fifo:
                candidates = await self._fifo_heads(
                    conn, candidates, fifo, in_flight, now, blocked, busy
                )
            picked = capacity.pick(
                ((c.webhook_id, c.trigger == "scheduled", c) for c in candidates),
                limits,
                in_flight,
                next_starts,
                now,
                limit,
            )
            # The worker knows its own leases; it is told of webhooks that others fill
            # (and of FIFO webhooks that are busy, whoever holds their one request).
            elsewhere = {
                w for w in picked.saturated if in_flight.get(w, 0) > mine.get(w, 0) or w in fifo
            }
            elsewhere |= busy
            if not picked.claims:
                return Claim([], elsewhere, blocked)
            claimed = await self._lease(conn, worker_id, picked, now, lease_seconds)
        return Claim(claimed, elsewhere, blocked)

    async def renew_leases(
        self, worker_id: str, delivery_ids: Collection[str], lease_seconds: float
    ) -> set[str]:
        """Extend the leases ``worker_id`` holds on ``delivery_ids``; the ids it still holds.

        A worker renews what it has claimed and not finished (waiting in a lane
        or in flight), so its leases stay short and a crash is noticed soon.
        An id missing from the answer was taken over or finished elsewhere.
        """
        if not delivery_ids:
            return set()
        until = utcnow() + timedelta(seconds=lease_seconds)
        statement = (
            _d.update()
            .where(
                _d.c.id.in_(sorted(delivery_ids)),
                _d.c.lease_owner == worker_id,
                _PENDING,
            )
            .values(next_attempt_at=until)
            .returning(_d.c.id)
        )
        async with self.write() as conn:
            return set((await conn.execute(statement)).scalars())

    async def fifo_blockers(self, webhook_ids: Collection[str]) -> dict[str, Blocker]:
        """Of the FIFO webhooks ``webhook_ids``, those held back by a failing head, with it.

        A head that was tried and is still pending has failed (or its worker
        stopped) and is waiting for its retry, or being retried: everything
        behind it waits. One index probe per webhook.
        """
        blockers: dict[str, Blocker] = {}
        if not webhook_ids:
            return blockers
        async with self.read() as conn:
            for webhook_id in sorted(webhook_ids):
                row = (await conn.execute(_BLOCKER, {"webhook": webhook_id})).first()
                if row is None or row.attempts == 0:
                    continue
                leased = row.lease_owner is not None and row.next_attempt_at > utcnow()
                blockers[webhook_id] = Blocker(
                    delivery_id=row.id,
                    event_id=row.event_id,
                    event_type=row.event_type,
                    attempts=row.attempts,
                    last_status_code=row.last_status_code,
                    reason=row.retry_reason,
                    retry_at=None if leased else row.next_attempt_at,
                )
        return blockers

    @functools.cached_property
    def _due(self) -> tuple[sa.Select[Any], sa.Select[Any]]:
        """The due-deliveries query as this database locks it: all, and excluding some."""
        return self.dialect.claim_rows(_due_query(False)), self.dialect.claim_rows(_due_query(True))

    async def _candidates(
        self, conn: AsyncConnection, now: datetime, scan: int, exclude: Collection[str]
    ) -> list[_Candidate]:
        every, excluding = self._due
        values: dict[str, Any] = {"now": now, "scan": scan}
        if exclude:
            values["exclude"] = list(exclude)
        rows = await conn.execute(excluding if exclude else every, values)
        return [_Candidate(*row) for row in rows]

    async def _lock_webhooks(
        self, conn: AsyncConnection, webhook_ids: set[str]
    ) -> tuple[dict[str, capacity.Limits], set[str]]:
        """The caps of the webhooks this claim may take deliveries of (locked for it),
        and which of them send in FIFO order now (FIFO, neither disabled nor suspended)."""
        rows = await self.dialect.lock_webhooks(conn, sorted(webhook_ids))
        limits, fifo = {}, set()
        for row in rows:
            paused = not row.active or row.status == "suspended"
            ordered = row.ordering == Ordering.FIFO
            cap = 1 if ordered else row.max_concurrency
            limits[row.id] = capacity.Limits(cap, row.rate_limit, paused=paused)
            if ordered and not paused:
                fifo.add(row.id)
        return limits, fifo

    @functools.cached_property
    def _head(self) -> sa.Select[Any]:
        return self.dialect.claim_rows(_HEAD)

    async def _fifo_heads(
        self,
        conn: AsyncConnection,
        candidates: list[_Candidate],
        fifo: set[str],
        in_flight: dict[str, int],
        now: datetime,
        blocked: dict[str, datetime],
        busy: set[str],
    ) -> list[_Candidate]:
        """``candidates`` with each idle FIFO webhook's deliveries replaced by its head,
        in the place of the first of them, or by nothing while the head is not due.

        A FIFO webhook with a request in flight keeps its candidates: ``pick``
        finds it at its cap of 1. Fills ``blocked`` (webhook: when its head is
        due) and ``busy`` (webhooks whose head another transaction holds now).
        """
        heads: dict[str, _Candidate | None] = {}
        for webhook_id in sorted(fifo):
            if in_flight.get(webhook_id, 0):
                continue
            row = (await conn.execute(self._head, {"webhook": webhook_id})).first()
            if row is None:  # finished meanwhile, or locked by a concurrent transaction
                busy.add(webhook_id)
                heads[webhook_id] = None
            elif row.next_attempt_at > now:
                blocked[webhook_id] = row.next_attempt_at
                heads[webhook_id] = None
            else:
                heads[webhook_id] = _Candidate(*row[:-1])
        if not heads:
            return candidates
        chosen, placed = [], set()
        for candidate in candidates:
            webhook_id = candidate.webhook_id
            if webhook_id not in heads:
                chosen.append(candidate)
            elif webhook_id not in placed:
                placed.add(webhook_id)
                head = heads[webhook_id]
                if head is not None:
                    chosen.append(head)
        return chosen

    async def _usage(
        self,
        conn: AsyncConnection,
        limits: dict[str, capacity.Limits],
        now: datetime,
        worker_id: str,
    ) -> tuple[dict[str, int], dict[str, int], dict[str, datetime]]:
        """Leased deliveries per webhook (all, and ``worker_id``'s), and when the
        rate-limited ones may start next."""
        if not limits:
            return {}, {}, {}
        values = {"webhooks": sorted(limits), "worker": worker_id, "now": now}
        rows = (await conn.execute(_LEASED, values)).all()
        in_flight = {webhook_id: int(n) for webhook_id, n, _ in rows}
        mine = {webhook_id: int(n) for webhook_id, _, n in rows}
        paced = sorted(w for w, lim in limits.items() if lim.rate_limit is not None)
        next_starts: dict[str, datetime] = {}
        if paced:
            starts = await conn.execute(_NEXT_STARTS, {"webhooks": paced})
            next_starts = {webhook_id: at for webhook_id, at in starts}
        return in_flight, mine, next_starts

    @functools.cached_property
    def _lease_batch(self) -> Executemany:
        return Executemany(_LEASE, self.engine.dialect, _LEASE_ROW, ("b_owner",))

    async def _lease(
        self,
        conn: AsyncConnection,
        worker_id: str,
        picked: capacity.Picked[_Candidate],
        now: datetime,
        lease_seconds: float,
    ) -> list[ClaimedDelivery]:
        lease = timedelta(seconds=lease_seconds)
        chosen = sorted(picked.claims, key=lambda pair: pair[0].id)  # locks in one order
        taken_over = [c for c, _ in chosen if c.lease_owner is not None]
        rows = [
            (
                c.id,
                (not_before or now) + lease,
                c.attempts + 1 if c.lease_owner is not None else c.attempts,
                UNKNOWN_OUTCOME if c.lease_owner is not None else c.retry_reason,
            )
            for c, not_before in chosen
        ]
        await self._lease_batch.execute(conn, rows, worker_id)
        if taken_over:
            await self._log_batch.execute(conn, [_unknown_outcome(c, now) for c in taken_over])
        if picked.next_starts:
            await self._save_next_starts(conn, picked.next_starts)
        details = await self._payloads(conn, [c.id for c, _ in chosen])
        return [
            ClaimedDelivery(
                id=c.id,
                tenant_id=c.tenant_id,
                event_id=c.event_id,
                webhook_id=c.webhook_id,
                event_type=c.event_type,
                attempts=attempts,
                trigger=Trigger(c.trigger),
                retry_reason=reason,
                payload=details[c.id][0],
                webhook_version=details[c.id][1],
                not_before=not_before,
            )
            for (c, not_before), (_, _, attempts, reason) in zip(chosen, rows, strict=True)
        ]

    async def _payloads(
        self, conn: AsyncConnection, delivery_ids: Sequence[str]
    ) -> dict[str, tuple[bytes, int]]:
        """The body and the webhook version of each claimed delivery."""
        rows = await conn.execute(_PAYLOADS, {"ids": list(delivery_ids)})
        return {row.id: (bytes(row.payload), row.version) for row in rows}

    async def _save_next_starts(self, conn: AsyncConnection, starts: dict[str, datetime]) -> None:
        p = t.webhook_pacing
        insert = self.dialect.upsert(p)
        statement = insert.on_conflict_do_update(
            index_elements=[p.c.webhook_id], set_={"next_start_at": insert.excluded.next_start_at}
        )
        await conn.execute(
            statement, [{"webhook_id": w, "next_start_at": at} for w, at in sorted(starts.items())]
        )


def _unknown_outcome(candidate: _Candidate, now: datetime) -> tuple[Any, ...]:
    """The log entry of an attempt whose worker stopped before recording it."""
    values: dict[str, Any] = {
        "id": new_id("log"),
        "tenant_id": candidate.tenant_id,
        "delivery_id": candidate.id,
        "webhook_id": candidate.webhook_id,
        "event_id": candidate.event_id,
        "event_type": candidate.event_type,
        "attempt": candidate.attempts + 1,
        "trigger": candidate.trigger,
        "sent_at": None,
        "received_at": None,
        "duration_ms": None,
        "status_code": None,
        "success": False,
        "retry_reason": candidate.retry_reason,
        "error": UNKNOWN_OUTCOME,
        "request_headers": {},
        "response_headers": None,
        "response_body": None,
        "request_body": None,
        "created_at": now,
    }
    return tuple(values[name] for name in LOG_ENTRY_COLUMNS)
