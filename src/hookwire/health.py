"""A webhook's health: what a batch of attempts does to its status. A pure rule.

- A success makes it healthy, and ends its current run of failures.
- A failure makes it unhealthy; failures with no success in between for
  ``suspend_after`` (the suspension window, default 5 days) suspend it.
- ``410 Gone`` suspends it at once and disables it.
- Only re-activation (``PATCH {"active": true}``) ends a suspension: attempts
  made while suspended (manual resends, test events) do not.

Storage persists what :func:`next_health` decides; it runs on the webhook's row
as locked for the update, so concurrent workers compose.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from hookwire.enums import DeliveryState, WebhookStatus
from hookwire.records import AttemptResult


@dataclass(slots=True)
class Outcome:
    """What one batch of attempts says about one webhook."""

    last_finished_at: datetime
    last_status_code: int | None
    last_success: bool
    gone: bool
    any_success: bool
    # The first failure after the batch's last success (or in the whole batch).
    failing_since: datetime | None


@dataclass(frozen=True, slots=True)
class Health:
    """A webhook's health fields, before or after a batch."""

    status: WebhookStatus
    active: bool
    failing_since: datetime | None


def outcomes(results: Iterable[AttemptResult]) -> dict[str, Outcome]:
    """Each webhook's outcome in a batch, in the order the attempts finished (skips ignored)."""
    found: dict[str, Outcome] = {}
    for r in sorted(results, key=lambda r: r.finished_at):
        if r.state == DeliveryState.SKIPPED:
            continue
        seen = found.get(r.webhook_id)
        if seen is None:
            seen = found[r.webhook_id] = Outcome(r.finished_at, None, False, False, False, None)
        seen.last_finished_at, seen.last_status_code = r.finished_at, r.status_code
        seen.last_success = r.success
        seen.gone = seen.gone or r.webhook_gone
        if r.success:
            seen.any_success, seen.failing_since = True, None
        elif seen.failing_since is None:
            seen.failing_since = r.finished_at
    return found


def next_health(current: Health, outcome: Outcome, suspend_before: datetime) -> Health:
    """The health after ``outcome``: suspended once failing since before ``suspend_before``."""
    active = current.active
    failing_since = outcome.failing_since
    if not outcome.any_success and failing_since is not None:
        failing_since = current.failing_since or failing_since
    if outcome.gone:
        status, active = WebhookStatus.SUSPENDED, False
    elif current.status == WebhookStatus.SUSPENDED:
        status = WebhookStatus.SUSPENDED
    elif outcome.last_success:
        status = WebhookStatus.HEALTHY
    elif failing_since is not None and failing_since <= suspend_before:
        status = WebhookStatus.SUSPENDED
    else:
        status = WebhookStatus.UNHEALTHY
    return Health(status, active, failing_since)
