"""Presentation helpers shared by several dashboard pages: filter choices, refresh intervals."""

from __future__ import annotations

from datetime import UTC, datetime

from hookwire.records import Delivery, EventType
from hookwire.service.events import TEST_EVENT_TYPE

POLL_MIN_SECONDS = 2
# With nothing pending a page still looks for new events now and then.
IDLE_POLL_SECONDS = 15


def event_type_names(types: list[EventType]) -> list[str]:
    """Names for an event filter: the catalogue plus the test event type."""
    names = [t.name for t in types]
    return names if TEST_EVENT_TYPE in names else sorted([*names, TEST_EVENT_TYPE])


def poll_seconds(pending: list[Delivery], lease_seconds: float, now: datetime | None = None) -> int:
    """How often a page of deliveries refreshes: often while some are pending.

    A claimed delivery's ``next_attempt_at`` is its lease's end, so one due
    within a lease may be in flight right now: refresh often. Otherwise the
    next attempt is a scheduled retry: refresh soon after it is due.
    """
    due = [d.next_attempt_at for d in pending if d.next_attempt_at is not None]
    if not pending:
        return IDLE_POLL_SECONDS
    if not due:
        return POLL_MIN_SECONDS
    wait = (min(due) - (now or datetime.now(UTC))).total_seconds()
    if wait <= lease_seconds:
        return POLL_MIN_SECONDS
    return int(min(IDLE_POLL_SECONDS, wait + 1))
