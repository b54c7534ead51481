"""Periodic upkeep beside the worker: the coming days' log partitions, and the retention purge.

Every worker process runs one :class:`Maintenance`; on PostgreSQL an advisory
lock lets one of them work at a time and the others skip their turn.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from hookwire.config import Settings
from hookwire.errors import StorageFailure, Unavailable
from hookwire.storage import Storage
from hookwire.storage.base import utcnow
from hookwire.storage.retention import PurgeReport

log = logging.getLogger("hookwire.maintenance")

MAINTENANCE_INTERVAL_SECONDS = 300.0


class Maintenance:
    """Runs the storage's retention upkeep at start and then every interval."""

    def __init__(
        self,
        storage: Storage,
        settings: Settings,
        *,
        interval_seconds: float = MAINTENANCE_INTERVAL_SECONDS,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.storage = storage
        self.settings = settings
        self.interval_seconds = interval_seconds
        self._clock = clock

    async def run_once(self, now: datetime) -> PurgeReport:
        """Create the coming days' log partitions and purge what is past the retention."""
        report = await self.storage.maintain_retention(now, self.settings.retention_days)
        if report.purged:
            log.info("%s", summary(report))
        return report

    async def run(self, stop: asyncio.Event) -> None:
        """Run once now, then every interval until ``stop`` is set; never raises on failure."""
        while True:
            try:
                await self.run_once(self._clock())
            except Exception as exc:
                log.warning(
                    "retention maintenance failed (%s); trying again in %g s",
                    _describe(exc),
                    self.interval_seconds,
                )
            try:
                await asyncio.wait_for(stop.wait(), self.interval_seconds)
                return
            except TimeoutError:
                pass


def summary(report: PurgeReport) -> str:
    """One line saying what a run removed."""
    counts = [
        (len(report.log_partitions_dropped), "log partitions"),
        (report.log_entries, "log entries"),
        (report.deliveries, "deliveries"),
        (report.events, "events"),
        (report.dashboard_sessions, "expired dashboard sessions"),
        (report.portal_links, "expired portal links"),
    ]
    line = "retention purged " + ", ".join(f"{n} {what}" for n, what in counts if n)
    return line if report.finished else line + " (more is left for the next run)"


def _describe(exc: Exception) -> str:
    # Storage errors name only the kind of failure by construction; any other
    # error's text might quote SQL values, so only its class is named.
    if isinstance(exc, Unavailable | StorageFailure):
        return str(exc)
    return type(exc).__name__
