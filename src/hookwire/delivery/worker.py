"""The delivery worker: claim due deliveries, send them concurrently, record outcomes in batches.

A worker claims batches under a lease, hands each delivery to its webhook's
:class:`~hookwire.delivery.lanes.Lane`, sends over one aiohttp session, and
buffers the outcomes, which a flusher writes with one ``record_attempts`` call
per batch. It wakes on new events (in-process listeners, PostgreSQL NOTIFY) and
otherwise polls. ``run()`` serves until ``stop()``; ``run_until_idle()`` is the
deterministic entry point for tests and scripts.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import secrets
import socket
import time
from datetime import timedelta

from hookwire.config import Settings
from hookwire.delivery.lanes import Held, Lane
from hookwire.delivery.notify import listen_for_deliveries
from hookwire.delivery.sender import Sender, SendOutcome, Target
from hookwire.metrics import Metrics
from hookwire.retry import RetryPolicy, parse_retry_after
from hookwire.storage import Storage
from hookwire.storage.base import utcnow
from hookwire.storage.events import SKIPPED_ERROR
from hookwire.storage.records import AttemptResult, ClaimedDelivery

log = logging.getLogger("hookwire.worker")

FLUSH_BATCH_SIZE = 500
# Results wait this long for company before being written: one transaction per
# batch instead of one per request, at the cost of a few ms of staleness.
FLUSH_INTERVAL_SECONDS = 0.005
FLUSH_RETRY_SECONDS = 1.0
MAX_CACHED_TARGETS = 10_000
# run_until_idle() waits for retries coming due within this many seconds.
DEFAULT_IDLE_HORIZON_SECONDS = 10.0
IDLE_RECHECK_SECONDS = 0.01
# A claimed delivery still waiting for its lane is released in time to be sent
# by someone else within its lease, allowing for the request and this margin.
LEASE_MARGIN_SECONDS = 5.0
SKIPPED_DISABLED = "skipped: the webhook is disabled"
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
        self._targets: dict[str, Target] = {}
        self._lanes: dict[str, Lane] = {}
        # Each lane's consumers: tasks that send its deliveries one after another.
        self._tasks: set[asyncio.Task[None]] = set()
        self._in_flight = 0
        self._held = 0
        self._to_release: list[ClaimedDelivery] = []
        self._results: list[AttemptResult] = []
        self._results_ready = asyncio.Event()
        self._flush_lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._more_work = True
        self._stopping = False
        self._opened = False
        self._running = False
        self._finished = asyncio.Event()
        self._flusher: asyncio.Task[None] | None = None
        self._listener: asyncio.Task[None] | None = None
        lease = settings.lease_seconds
        self._hold_limit = max(
            lease / 4, lease - settings.request_timeout_seconds - LEASE_MARGIN_SECONDS
        )
        self._next_overdue_check = 0.0
        self._refill_at = max(1, min(settings.claim_batch_size, settings.max_in_flight) // 4)

    # --- lifecycle ---------------------------------------------------------

    async def __aenter__(self) -> Worker:
        await self.open()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    async def open(self) -> None:
        """Open the HTTP session and start listening for wake-ups and flushing."""
        if self._opened:
            return
        self._opened = True
        self._stopping = False
        await self._sender.open()
        self.storage.add_wakeup_listener(self._on_wakeup)
        self._flusher = asyncio.create_task(self._flush_loop())
        if not self.storage.is_sqlite:
            url = self.storage.engine.url.set(drivername="postgresql")
            dsn = url.render_as_string(hide_password=False)
            self._listener = asyncio.create_task(listen_for_deliveries(dsn, self._on_wakeup))

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
        if self._listener is not None:
            self._listener.cancel()
            await asyncio.gather(self._listener, return_exceptions=True)
            self._listener = None
        if self._flusher is not None:
            # Not cancelled: a batch cut off after its commit would be written twice.
            self._results_ready.set()
            await asyncio.gather(self._flusher, return_exceptions=True)
            self._flusher = None
        try:
            await self._flush()
        except Exception:
            log.exception("could not record the last results; their deliveries will be resent")
        self.storage.remove_wakeup_listener(self._on_wakeup)
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
            await self._flush()
            due = await self.storage.next_due_time()
            if due is None:
                return
            delay = (due - utcnow()).total_seconds()
            if delay > horizon_seconds:
                return
            await asyncio.sleep(max(delay, IDLE_RECHECK_SECONDS))
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

    async def _claim(self, limit: int) -> int:
        saturated = [
            webhook_id
            for webhook_id, lane in self._lanes.items()
            if lane.saturated(self._targets[webhook_id].max_concurrency)
        ]
        claimed = await self.storage.claim_due_deliveries(
            self.worker_id, limit, self.settings.lease_seconds, saturated
        )
        if claimed:
            await self._refresh_targets(claimed)
            self._dispatch(claimed)
        return len(claimed)

    async def _refresh_targets(self, claimed: list[ClaimedDelivery]) -> None:
        stale = set()
        for delivery in claimed:
            target = self._targets.get(delivery.webhook_id)
            if target is None or target.version != delivery.webhook_version:
                stale.add(delivery.webhook_id)
        if not stale:
            return
        allow_private = self.settings.allow_private_networks
        for webhook in await self.storage.get_webhooks_by_id(stale):
            self._targets.pop(webhook.id, None)  # re-inserted last: the newest stay longest
            self._targets[webhook.id] = Target.from_webhook(webhook, allow_private=allow_private)
        for webhook_id in list(self._targets)[: max(0, len(self._targets) - MAX_CACHED_TARGETS)]:
            if webhook_id not in self._lanes:
                del self._targets[webhook_id]

    def _dispatch(self, claimed: list[ClaimedDelivery]) -> None:
        now = time.monotonic()
        touched = set()
        for delivery in claimed:
            target = self._targets.get(delivery.webhook_id)
            if target is None:
                continue  # the webhook was deleted, and its deliveries with it
            if delivery.trigger == "scheduled" and (target.suspended or not target.active):
                # Manual resends and test events still go out; the schedule does not.
                reason = SKIPPED_ERROR if target.suspended else SKIPPED_DISABLED
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
        wanted = min(self._targets[webhook_id].max_concurrency, lane.in_flight + len(lane.backlog))
        for _ in range(wanted - lane.consumers):
            lane.consumers += 1
            task = asyncio.create_task(self._consume(webhook_id, lane))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _on_rate_timer(self, webhook_id: str) -> None:
        lane = self._lanes.get(webhook_id)
        if lane is not None:
            lane.timer_armed = False
            self._pump(webhook_id)
            self._forget_if_idle(webhook_id, lane)
        self._wake.set()

    def _forget_if_idle(self, webhook_id: str, lane: Lane) -> None:
        if lane.idle() and self._lanes.get(webhook_id) is lane:
            del self._lanes[webhook_id]

    async def _consume(self, webhook_id: str, lane: Lane) -> None:
        try:
            while lane.backlog:
                target = self._targets[webhook_id]
                wait = lane.wait_before_start(time.monotonic(), target.rate_limit)
                if wait > 0:
                    if not lane.timer_armed:
                        lane.timer_armed = True
                        asyncio.get_running_loop().call_later(wait, self._on_rate_timer, webhook_id)
                    return
                delivery = lane.backlog.popleft().delivery
                self._held -= 1
                lane.in_flight += 1
                self._in_flight += 1
                await self._attempt(target, lane, delivery)
        finally:
            lane.consumers -= 1
            self._forget_if_idle(webhook_id, lane)

    async def _attempt(self, target: Target, lane: Lane, delivery: ClaimedDelivery) -> None:
        """Send one delivery and buffer its result; give it back if that cannot finish."""
        recorded = False
        try:
            outcome = await self._sender.send(target, delivery)
            self._add_result(self._result(delivery, outcome))
            recorded = True
        except Exception:
            log.exception("delivery %s: unexpected error", delivery.id)
        finally:
            if not recorded:  # an unexpected error, or cut off at shutdown
                self._to_release.append(delivery)
            was_saturated = lane.saturated(target.max_concurrency)
            lane.in_flight -= 1
            self._in_flight -= 1
            if lane.backlog:
                # This consumer takes the next; more start if the limit was raised.
                if lane.consumers < self._targets[delivery.webhook_id].max_concurrency:
                    self._pump(delivery.webhook_id)
            elif was_saturated:
                self._more_work = True  # its due deliveries were left out of claims until now
            self._wake.set()

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
        except Exception:
            log.exception("releasing %d deliveries failed; their lease will run out", len(released))

    # --- outcomes ----------------------------------------------------------

    def _result(self, delivery: ClaimedDelivery, outcome: SendOutcome) -> AttemptResult:
        attempt = delivery.attempts + 1
        state, next_at, next_reason = "succeeded", None, None
        if outcome.failure is not None:
            state = "failed"
            if outcome.retryable:
                retry_after = parse_retry_after(outcome.retry_after, outcome.finished_at)
                delay = self._policy.delay_after(attempt, self._rng, retry_after)
                if delay is not None:
                    state, next_reason = "pending", outcome.failure
                    next_at = outcome.finished_at + timedelta(seconds=delay)
        if self._metrics is not None:
            self._metrics.attempts.labels(outcome="retry" if state == "pending" else state).inc()
            if outcome.duration_ms is not None:
                self._metrics.attempt_seconds.observe(outcome.duration_ms / 1000)
        return AttemptResult(
            delivery_id=delivery.id,
            tenant_id=delivery.tenant_id,
            webhook_id=delivery.webhook_id,
            event_id=delivery.event_id,
            event_type=delivery.event_type,
            attempt=attempt,
            trigger=delivery.trigger,
            retry_reason=delivery.retry_reason,
            sent_at=outcome.sent_at,
            received_at=outcome.received_at,
            finished_at=outcome.finished_at,
            duration_ms=outcome.duration_ms,
            status_code=outcome.status_code,
            success=outcome.failure is None,
            error=outcome.failure,
            request_headers=outcome.request_headers,
            response_headers=outcome.response_headers,
            response_body=outcome.response_body,
            state=state,
            next_attempt_at=next_at,
            next_retry_reason=next_reason,
            webhook_gone=outcome.gone,
        )

    def _skipped(self, delivery: ClaimedDelivery, reason: str) -> AttemptResult:
        if self._metrics is not None:
            self._metrics.attempts.labels(outcome="skipped").inc()
        return AttemptResult(
            delivery_id=delivery.id,
            tenant_id=delivery.tenant_id,
            webhook_id=delivery.webhook_id,
            event_id=delivery.event_id,
            event_type=delivery.event_type,
            attempt=delivery.attempts,
            trigger=delivery.trigger,
            retry_reason=delivery.retry_reason,
            sent_at=None,
            received_at=None,
            finished_at=utcnow(),
            duration_ms=None,
            status_code=None,
            success=False,
            error=reason,
            request_headers={},
            response_headers=None,
            response_body=None,
            state="skipped",
        )

    # --- recording -----------------------------------------------------------

    def _add_result(self, result: AttemptResult) -> None:
        self._results.append(result)
        self._results_ready.set()

    async def _flush_loop(self) -> None:
        while not self._stopping:
            await self._results_ready.wait()
            if len(self._results) < FLUSH_BATCH_SIZE and not self._stopping:
                await asyncio.sleep(FLUSH_INTERVAL_SECONDS)
            try:
                await self._flush()
            except Exception:
                log.exception("recording delivery results failed; retrying")
                await asyncio.sleep(FLUSH_RETRY_SECONDS)

    async def _flush(self) -> None:
        """Write every buffered result, a batch per transaction."""
        async with self._flush_lock:
            while self._results:
                batch = self._results[:FLUSH_BATCH_SIZE]
                await self.storage.record_attempts(
                    self.worker_id,
                    batch,
                    suspend_after_seconds=self.settings.suspend_after_seconds,
                )
                del self._results[: len(batch)]
                self._wake_for_retries(batch)
            self._results_ready.clear()

    def _wake_for_retries(self, batch: list[AttemptResult]) -> None:
        """Wake when a retry comes due sooner than the next poll would notice it."""
        soonest = min((r.next_attempt_at for r in batch if r.next_attempt_at), default=None)
        if soonest is None:
            return
        delay = (soonest - utcnow()).total_seconds()
        if delay < self.settings.poll_interval_seconds:
            asyncio.get_running_loop().call_later(max(0.0, delay), self._on_wakeup)
