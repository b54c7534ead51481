"""Recording attempts in batches: one transaction per batch instead of one per request.

The worker hands every finished attempt (or skip) to a :class:`Recorder`, which
writes them with one ``record_attempts`` call per batch, a few milliseconds
after the first arrives, and retries while the database is unavailable: the
results wait in memory (they are bounded by what the worker may have in
flight) and their leases are kept, so nothing that was sent is forgotten.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from hookwire.enums import DeliveryState
from hookwire.errors import Unavailable
from hookwire.logformat import log_ids
from hookwire.records import AttemptResult
from hookwire.storage import Storage

log = logging.getLogger("hookwire.worker")

FLUSH_BATCH_SIZE = 500
# Results wait this long for company before being written: one transaction per
# batch instead of one per request, at the cost of a few ms of staleness.
FLUSH_INTERVAL_SECONDS = 0.005
FLUSH_RETRY_SECONDS = 1.0


class Recorder:
    """Buffers attempt results and writes them in batches until closed."""

    def __init__(
        self,
        storage: Storage,
        worker_id: str,
        suspend_after_seconds: float,
        on_recorded: Callable[[list[AttemptResult]], None],
    ) -> None:
        self._storage = storage
        self._worker_id = worker_id
        self._suspend_after_seconds = suspend_after_seconds
        self._on_recorded = on_recorded
        self._results: list[AttemptResult] = []
        self._ready = asyncio.Event()
        self._lock = asyncio.Lock()
        self._closing = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start writing in the background."""
        self._closing = False
        self._task = asyncio.create_task(self._loop())

    def add(self, result: AttemptResult) -> None:
        """Queue one result for the next batch."""
        self._results.append(result)
        self._ready.set()

    async def close(self) -> None:
        """Stop the background writer (never mid-batch) and write what is left."""
        self._closing = True
        if self._task is not None:
            # Not cancelled: a batch finishes its transaction, and its results are
            # handed on (their leases released), rather than stopping midway.
            self._ready.set()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        try:
            await self.flush()
        except Exception:
            log.exception("could not record the last results; their deliveries will be resent")

    async def flush(self) -> None:
        """Write every buffered result, a batch per transaction."""
        async with self._lock:
            while self._results:
                batch = self._results[:FLUSH_BATCH_SIZE]
                await self._storage.record_attempts(
                    self._worker_id, batch, suspend_after_seconds=self._suspend_after_seconds
                )
                del self._results[: len(batch)]
                self._on_recorded(batch)
                _log_failures(batch)
            self._ready.clear()

    async def _loop(self) -> None:
        while not self._closing:
            await self._ready.wait()
            if len(self._results) < FLUSH_BATCH_SIZE and not self._closing:
                await asyncio.sleep(FLUSH_INTERVAL_SECONDS)
            try:
                await self.flush()
            except Unavailable as exc:
                log.warning("recording delivery results failed: %s; retrying", exc)
                await asyncio.sleep(FLUSH_RETRY_SECONDS)
            except Exception:
                log.exception("recording delivery results failed; retrying")
                await asyncio.sleep(FLUSH_RETRY_SECONDS)


def _log_failures(batch: list[AttemptResult]) -> None:
    """A line per delivery that failed for good, with its ids (never what was sent)."""
    for result in batch:
        if result.state == DeliveryState.FAILED:
            log.warning(
                "delivery %s failed for good after attempt %d: %s",
                result.delivery_id,
                result.attempt,
                result.error,
                extra=log_ids(result),
            )
