"""The delivery worker: claim due deliveries, send them concurrently, record outcomes in batches.

A worker claims batches under a lease, hands each delivery to its webhook's
:class:`~hookwire.delivery.lanes.Lane`, sends over one aiohttp session, and
buffers the outcomes, which a flusher writes with one ``record_attempts`` call
per batch. Beside that it renews the leases of what it holds, and reloads a
webhook's settings as soon as they change (in-process listeners, PostgreSQL
NOTIFY), so a disabled, suspended or deleted webhook gets nothing more. It
wakes on new events and otherwise polls. ``run()`` serves until ``stop()``;
``run_until_idle()`` is the deterministic entry point for tests and scripts.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import secrets
import socket
import time
from collections.abc import Coroutine
from datetime import datetime
from typing import Any

from hookwire.config import Settings
from hookwire.delivery.lanes import Held, Lane, Leases
from hookwire.delivery.maintenance import Maintenance
from hookwire.delivery.outcomes import attempt_result, skip_reason
from hookwire.delivery.recorder import Recorder
from hookwire.delivery.sender import Sender, SendOutcome
from hookwire.delivery.targets import Targets
from hookwire.enums import DeliveryState
from hookwire.errors import Unavailable
from hookwire.logformat import log_ids
from hookwire.metrics import Metrics
from hookwire.records import AttemptResult, ClaimedDelivery
from hookwire.retry import Decision, RetryPolicy, decide
from hookwire.storage import Storage
from hookwire.storage.base import utcnow

log = logging.getLogger("hookwire.worker")

# run_until_idle() waits for retries coming due within this many seconds.
DEFAULT_IDLE_HORIZON_SECONDS = 10.0
IDLE_RECHECK_SECONDS = 0.01
# A webhook found at its cap by a claim (its other requests are in flight in
# other workers) is left out of claims this long before it is looked at again.
BUSY_RECHECK_SECONDS = 0.25
# A FIFO webhook whose head waits for its retry is left out of claims until the
# head is due, and looked at again at least this often (a resend makes it due sooner).
BLOCKED_RECHECK_SECONDS = 1.0
# Leases are renewed this many times per lease.
RENEWALS_PER_LEASE = 3
WORKER_ID_MAX_CHARS = 64


def new_worker_id() -> str:
    """A worker id unique per process: host, pid and a random suffix."""
    suffix = f"-{os.getpid()}-{secrets.token_hex(4)}"
    return socket.gethostname()[: WORKER_ID_MAX_CHARS - len(suffix)] + suffix


class Worker:
    """Delivers due deliveries of one storage. Use ``async with`` or ``run()``."""

    def __init__(
        self,
        storage: Storage,
        settings: Settings,
        *,
        worker_id: str | None = None,
        metrics: Metrics | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.storage = storage
        self.settings = settings
        self.worker_id = worker_id or new_worker_id()
        self._policy = RetryPolicy.from_settings(settings)
        self._rng = rng or random.Random()
        self._metrics = metrics
        self._sender = Sender(settings)
        self._lanes: dict[str, Lane] = {}
        self._targets = Targets(
            storage, settings.allow_private_networks, self._apply_change, self._lanes.__contains__
        )
        # Each lane's consumers: tasks that send its deliveries one after another.
        self._tasks: set[asyncio.Task[None]] = set()
        self._in_flight = 0
        self._held = 0
        # Claimed and not yet recorded or given back: the leases to renew.
        self._leased = Leases()
        # Webhooks a claim found at their cap, and until when to leave them out.
        self._busy: dict[str, float] = {}
        # Webhooks whose settings changed since they were loaded.
        self._to_release: list[ClaimedDelivery] = []
        self._recorder = Recorder(
            storage, self.worker_id, settings.suspend_after_seconds, self._on_recorded
        )
        self._wake = asyncio.Event()
        self._more_work = True
        self._stopping = False
        self._opened = False
        self._running = False
        self._finished = asyncio.Event()
        self._helpers: list[asyncio.Task[None]] = []
        self._maintenance_stop = asyncio.Event()
        # A claimed delivery still waiting in a lane after this long is given
        # back for another worker (it is renewed meanwhile, so this is fairness).
        self._hold_limit = settings.lease_seconds / 2
        self._next_overdue_check = 0.0
        self._refill_at = max(1, min(settings.claim_batch_size, settings.max_in_flight) // 4)

    # --- lifecycle ---------------------------------------------------------

    async def __aenter__(self) -> Worker:
        await self.open()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    async def open(self) -> None:
        """Open the HTTP session; start flushing, renewing leases and hearing about changes."""
        if self._opened:
            return
        self._opened = True
        self._stopping = False
        await self._sender.open()
        self.storage.signals.add_wakeup_listener(self._on_wakeup)
        self.storage.signals.add_change_listener(self._targets.changed)
        self._recorder.start()
        self._maintenance_stop = asyncio.Event()
        self._helpers = [
            self._start(self._renew_loop()),
            self._start(self._targets.run()),
            self._start(
                self.storage.listen(self._on_wakeup, self._targets.changed, self._on_heard)
            ),
            # Every worker keeps the log's partitions and purges by retention;
            # on PostgreSQL a lock lets one process at a time do it.
            self._start(Maintenance(self.storage, self.settings).run(self._maintenance_stop)),
        ]

    @staticmethod
    def _start(coroutine: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        return asyncio.create_task(coroutine)

    def request_stop(self) -> None:
        """Stop claiming; ``run()`` then finishes in-flight requests and returns."""
        self._stopping = True
        self._wake.set()

    async def stop(self) -> None:
        """Stop ``run()`` and wait until it has finished."""
        self.request_stop()
        if self._running:
            await self._finished.wait()

    async def close(self) -> None:
        """Release what is held, let in-flight requests finish (up to the grace), flush."""
        if not self._opened:
            return
        self._stopping = True
        for lane in self._lanes.values():
            self._to_release.extend(lane.take_all())
        self._held = 0
        await self._release_pending()  # at once, so other workers can take them meanwhile
        if self._tasks:
            grace = self.settings.shutdown_grace_seconds
            _, late = await asyncio.wait(set(self._tasks), timeout=grace or None)
            for task in late:
                task.cancel()
            if late:
                log.warning("%d requests outlived the shutdown grace and were cut off", len(late))
                await asyncio.wait(late)
        await self._release_pending()
        self._maintenance_stop.set()
        for task in self._helpers:
            task.cancel()
        await asyncio.gather(*self._helpers, return_exceptions=True)
        self._helpers = []
        await self._recorder.close()
        self.storage.signals.remove_wakeup_listener(self._on_wakeup)
        self.storage.signals.remove_change_listener(self._targets.changed)
        await self._sender.close()
        self._opened = False

    # --- the two ways to drive it -------------------------------------------

    async def run(self) -> None:
        """Deliver until ``stop()`` or ``request_stop()``, then shut down gracefully."""
        self._running = True
        self._finished.clear()
        await self.open()
        poll = self.settings.poll_interval_seconds
        next_poll = time.monotonic() + poll
        try:
            while not self._stopping:
                try:
                    if await self._claim_if_worthwhile():
                        continue
                except Unavailable as exc:
                    log.warning("claiming deliveries failed: %s; retrying after the poll", exc)
                    self._more_work = False
                except Exception:
                    log.exception("claiming deliveries failed; retrying after the poll interval")
                    self._more_work = False
                now = time.monotonic()
                if now >= next_poll:
                    self._more_work, next_poll = True, now + poll
                    continue
                await self._wait(next_poll - now)
        finally:
            await self.close()
            self._running = False
            self._finished.set()

    async def run_until_idle(
        self, *, horizon_seconds: float = DEFAULT_IDLE_HORIZON_SECONDS
    ) -> None:
        """Deliver everything due, including retries and leases ending within the horizon.

        Returns once nothing is in flight, every result is recorded, and no
        pending delivery comes due within ``horizon_seconds``. Waits only for
        requests and for known due times, so tests never sleep on a guess.
        """
        await self.open()
        self._more_work = True
        while True:
            if await self._claim_if_worthwhile():
                continue
            if self._tasks or self._held:
                await self._wait(self.settings.poll_interval_seconds)
                continue
            await self._recorder.flush()
            due = await self.storage.next_due_time()
            if due is None:
                return
            delay = (due - utcnow()).total_seconds()
            if delay > horizon_seconds:
                return
            await asyncio.sleep(max(delay, IDLE_RECHECK_SECONDS))
            self._busy.clear()
            self._more_work = True

    async def _claim_if_worthwhile(self) -> bool:
        """Claim when there may be due work and room for a good batch; True if more may wait.

        Claiming after every finished request would mean many tiny claims (and
        empty ones while the only due work belongs to saturated webhooks), so
        a claim waits for a quarter batch of room or for the worker to be idle.
        """
        await self._release_pending()
        free = self._free_slots()
        if not self._more_work or free <= 0 or (free < self._refill_at and self._tasks):
            return False
        asked = min(self.settings.claim_batch_size, free)
        # Cleared before and only ever set after the claim, so that a wake-up
        # arriving while the claim runs (for work it may not see) is kept.
        self._more_work = False
        if await self._claim(asked) == asked:
            self._more_work = True
        return self._more_work

    # --- claiming and dispatching -----------------------------------------

    def _free_slots(self) -> int:
        return self.settings.max_in_flight - self._in_flight - self._held

    def _on_wakeup(self) -> None:
        self._more_work = True
        self._wake.set()

    async def _wait(self, timeout: float) -> None:
        try:
            await asyncio.wait_for(self._wake.wait(), timeout)
        except TimeoutError:
            pass
        self._wake.clear()

    def _excluded(self) -> set[str]:
        """Webhooks to leave out of the next claim: at their cap with this worker's
        leases alone, or found at it through other workers' leases a moment ago."""
        now = time.monotonic()
        for webhook_id in [w for w, until in self._busy.items() if until <= now]:
            del self._busy[webhook_id]
        saturated = {
            webhook_id
            for webhook_id in self._leased.webhooks()
            if self._leased.count(webhook_id) >= self._targets.cap(webhook_id)
        }
        return saturated | self._busy.keys()

    async def _claim(self, limit: int) -> int:
        claim = await self.storage.claim_due_deliveries(
            self.worker_id, limit, self.settings.lease_seconds, self._excluded()
        )
        if claim.saturated:
            until = time.monotonic() + BUSY_RECHECK_SECONDS
            self._busy.update(dict.fromkeys(claim.saturated, until))
            asyncio.get_running_loop().call_later(BUSY_RECHECK_SECONDS, self._on_wakeup)
        if claim.blocked:
            self._leave_blocked_out(claim.blocked)
        if claim.deliveries:
            self._leased.add(claim.deliveries)
            await self._targets.load_for(claim.deliveries)
            self._dispatch(claim.deliveries)
        return len(claim.deliveries)

    def _leave_blocked_out(self, blocked: dict[str, datetime]) -> None:
        """Leave FIFO webhooks whose head waits out of claims until it is due, and
        claim again at once: their backlog may have hidden other webhooks' work."""
        now, loop = utcnow(), asyncio.get_running_loop()
        for webhook_id, due in blocked.items():
            delay = min(max(0.0, (due - now).total_seconds()), BLOCKED_RECHECK_SECONDS)
            self._busy[webhook_id] = time.monotonic() + delay
            loop.call_later(delay, self._on_wakeup)
        self._more_work = True

    def _dispatch(self, claimed: list[ClaimedDelivery]) -> None:
        now = time.monotonic()
        touched = set()
        for delivery in claimed:
            target = self._targets.get(delivery.webhook_id)
            if target is None:
                self._leased.drop([delivery.id])  # the webhook was deleted, and this with it
                continue
            reason = skip_reason(target, delivery)
            if reason is not None:
                self._add_result(self._skipped(delivery, reason))
                continue
            lane = self._lanes.get(delivery.webhook_id)
            if lane is None:
                lane = self._lanes[delivery.webhook_id] = Lane()
            lane.backlog.append(Held(delivery, now))
            self._held += 1
            touched.add(delivery.webhook_id)
        for webhook_id in touched:
            self._pump(webhook_id)

    def _pump(self, webhook_id: str) -> None:
        """Start enough consumers for the lane's waiting deliveries, as its limit allows.

        A consumer sends one delivery after another while its lane has more:
        one long-lived task per concurrent slot costs less than a task per request.
        """
        lane = self._lanes[webhook_id]
        wanted = min(self._targets.cap(webhook_id), lane.in_flight + len(lane.backlog))
        for _ in range(wanted - lane.consumers):
            lane.consumers += 1
            task = asyncio.create_task(self._consume(webhook_id, lane))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _forget_if_idle(self, webhook_id: str, lane: Lane) -> None:
        if lane.idle() and self._lanes.get(webhook_id) is lane:
            del self._lanes[webhook_id]

    async def _consume(self, webhook_id: str, lane: Lane) -> None:
        try:
            while lane.backlog:
                delivery = lane.backlog.popleft().delivery
                self._held -= 1
                lane.in_flight += 1
                self._in_flight += 1
                try:
                    await self._process(lane, delivery)
                finally:
                    lane.in_flight -= 1
                    self._in_flight -= 1
                    self._wake.set()
        finally:
            lane.consumers -= 1
            self._forget_if_idle(webhook_id, lane)

    async def _process(self, lane: Lane, delivery: ClaimedDelivery) -> None:
        """Wait for the delivery's start time, then send it with the webhook's current settings."""
        target = self._targets.get(delivery.webhook_id)
        if target is not None and (target.rate_limit is not None or delivery.not_before):
            now = time.monotonic()
            not_before = now
            if delivery.not_before is not None:
                not_before += (delivery.not_before - utcnow()).total_seconds()
            start = lane.start_time(now, not_before, target.rate_limit)
            # Its start time under the webhook's rate limit; a change of the
            # webhook (disabled, deleted) is looked at as soon as it is heard.
            while not await lane.until_start(start):
                target = self._targets.get(delivery.webhook_id)
                if target is None or skip_reason(target, delivery) is not None:
                    break
            target = self._targets.get(delivery.webhook_id)
        if target is None:
            self._leased.drop([delivery.id])  # deleted while it waited
            return
        reason = skip_reason(target, delivery)
        if reason is not None:  # disabled or suspended while it waited
            self._add_result(self._skipped(delivery, reason))
            return
        recorded = False
        in_flight = None if self._metrics is None else self._metrics.requests_in_flight
        if in_flight is not None:
            in_flight.inc()
        try:
            outcome = await self._sender.send(target, delivery)
            self._add_result(self._result(delivery, outcome))
            recorded = True
        except Exception:
            log.exception("delivery %s: unexpected error", delivery.id, extra=log_ids(delivery))
        finally:
            if in_flight is not None:
                in_flight.dec()
            if not recorded:  # an unexpected error, or cut off at shutdown
                self._to_release.append(delivery)

    async def _release_pending(self) -> None:
        """Give back what failed to start or waited in a lane too long."""
        now = time.monotonic()
        if self._lanes and now >= self._next_overdue_check:
            self._next_overdue_check = now + self._hold_limit / 4
            for webhook_id, lane in list(self._lanes.items()):
                overdue = lane.take_overdue(now - self._hold_limit)
                self._held -= len(overdue)
                self._to_release.extend(overdue)
                self._forget_if_idle(webhook_id, lane)
        if not self._to_release:
            return
        released, self._to_release = self._to_release, []
        due = utcnow()
        try:
            await self.storage.release_deliveries(self.worker_id, [(d.id, due) for d in released])
        except Exception as exc:
            log.warning(
                "releasing %d deliveries failed (%s); their lease will run out", len(released), exc
            )
        self._freed(self._leased.drop(d.id for d in released))

    # --- leases and changes ------------------------------------------------

    async def _renew_loop(self) -> None:
        """Keep the leases of everything held or in flight; drop what was taken over."""
        lease = self.settings.lease_seconds
        while True:
            await asyncio.sleep(lease / RENEWALS_PER_LEASE)
            held = self._leased.ids()
            if not held:
                continue
            try:
                kept = await self.storage.renew_leases(self.worker_id, held, lease)
            except Exception as exc:
                log.warning("renewing %d leases failed: %s", len(held), exc)
                continue
            lost = {i for i in held - kept if i in self._leased}
            for webhook_id, lane in list(self._lanes.items()):
                dropped = lane.take(lost)
                self._held -= len(dropped)
                self._forget_if_idle(webhook_id, lane)
            self._freed(self._leased.drop(lost))

    def _on_heard(self) -> None:
        """The LISTEN connection is (back) up: what changed meanwhile is unknown."""
        self._targets.all_changed()
        self._on_wakeup()

    def _apply_change(self, webhook_id: str) -> None:
        lane = self._lanes.get(webhook_id)
        if lane is None:
            return
        lane.announce_change()
        target = self._targets.get(webhook_id)
        if target is None:  # deleted: its deliveries are gone from the database too
            dropped = lane.take_all()
            self._leased.drop(d.id for d in dropped)
        else:
            reasons = {h.delivery.id: skip_reason(target, h.delivery) for h in lane.backlog}
            dropped = lane.take({i for i, reason in reasons.items() if reason is not None})
            for delivery in dropped:
                self._add_result(self._skipped(delivery, reasons[delivery.id] or ""))
        self._held -= len(dropped)
        self._forget_if_idle(webhook_id, lane)

    # --- outcomes ----------------------------------------------------------

    def _result(self, delivery: ClaimedDelivery, outcome: SendOutcome) -> AttemptResult:
        attempt = delivery.attempts + 1
        decision = decide(
            attempt,
            outcome.failure,
            retryable=outcome.retryable,
            retry_after=outcome.retry_after,
            finished_at=outcome.finished_at,
            policy=self._policy,
            rng=self._rng,
        )
        if self._metrics is not None:
            label = "retry" if decision.state == "pending" else decision.state
            self._metrics.attempts.labels(outcome=label).inc()
            if outcome.duration_ms is not None:
                self._metrics.attempt_seconds.observe(outcome.duration_ms / 1000)
        return attempt_result(delivery, outcome, decision, attempt=attempt)

    def _skipped(self, delivery: ClaimedDelivery, reason: str) -> AttemptResult:
        if self._metrics is not None:
            self._metrics.attempts.labels(outcome="skipped").inc()
        skipped = Decision(DeliveryState.SKIPPED)
        return attempt_result(
            delivery, SendOutcome.not_sent(reason), skipped, attempt=delivery.attempts
        )

    # --- recording -----------------------------------------------------------

    def _add_result(self, result: AttemptResult) -> None:
        self._recorder.add(result)

    def _on_recorded(self, batch: list[AttemptResult]) -> None:
        self._freed(self._leased.drop(r.delivery_id for r in batch))
        self._wake_for_retries(batch)

    def _freed(self, webhook_ids: set[str]) -> None:
        """Leases of ``webhook_ids`` ended here: they may have room for more at once."""
        if webhook_ids:
            for webhook_id in webhook_ids:
                self._busy.pop(webhook_id, None)
            self._on_wakeup()

    def _wake_for_retries(self, batch: list[AttemptResult]) -> None:
        """Wake when a retry comes due sooner than the next poll would notice it."""
        soonest = min((r.next_attempt_at for r in batch if r.next_attempt_at), default=None)
        if soonest is None:
            return
        delay = (soonest - utcnow()).total_seconds()
        if delay < self.settings.poll_interval_seconds:
            asyncio.get_running_loop().call_later(max(0.0, delay), self._on_wakeup)
