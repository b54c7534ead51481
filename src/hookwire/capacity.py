"""How many of a webhook's due deliveries may be claimed now: its concurrency cap and rate limit.

A pure rule. ``maxConcurrency`` and ``rateLimit`` hold per webhook across every
worker, so a claim looks at the whole installation: every delivery under a
lease counts against the cap, whoever holds it, and each claimed delivery of a
rate-limited webhook gets its own start time, spaced ``1 / rate_limit``
seconds after the previous one, wherever that one was claimed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Generic, TypeVar

# A rate-limited webhook's deliveries are claimed at most this far ahead of their
# start: a worker does not sit on work that another could start sooner.
RATE_CLAIM_HORIZON_SECONDS = 1.0

C = TypeVar("C")


@dataclass(frozen=True, slots=True)
class Limits:
    """A webhook's caps: requests in flight at once, and requests started per second."""

    max_concurrency: int
    rate_limit: int | None
    # Disabled or suspended: its scheduled deliveries are skipped, not sent, so
    # they take no room and no start time.
    paused: bool = False


@dataclass(slots=True)
class Picked(Generic[C]):
    """What a claim may take: candidates with their start times, and what is at capacity."""

    # (candidate, not_before): not_before is None when it may start at once.
    claims: list[tuple[C, datetime | None]] = field(default_factory=list)
    # Webhooks with due work and no room (their cap is reached by leases).
    saturated: set[str] = field(default_factory=set)
    # The next start time of each rate-limited webhook that got claims.
    next_starts: dict[str, datetime] = field(default_factory=dict)


def pick(
    candidates: Iterable[tuple[str, bool, C]],
    limits: Mapping[str, Limits],
    in_flight: Mapping[str, int],
    next_starts: Mapping[str, datetime],
    now: datetime,
    limit: int,
    horizon_seconds: float = RATE_CLAIM_HORIZON_SECONDS,
) -> Picked[C]:
    """Choose up to ``limit`` of ``candidates`` (``(webhook_id, scheduled, candidate)``, in
    due order; ``scheduled`` is False for a manual resend or a test event).

    Only webhooks in ``limits`` are considered (the others are being claimed by
    someone else right now). ``in_flight`` counts each webhook's leased
    deliveries; ``next_starts`` holds the earliest start a rate-limited webhook
    allows (its previous claims included).
    """
    picked: Picked[C] = Picked()
    room = {w: lim.max_concurrency - in_flight.get(w, 0) for w, lim in limits.items()}
    starts = dict(next_starts)
    horizon = now + timedelta(seconds=horizon_seconds)
    for webhook_id, scheduled, candidate in candidates:
        if len(picked.claims) >= limit:
            break
        caps = limits.get(webhook_id)
        if caps is None:
            continue
        if caps.paused and scheduled:
            picked.claims.append((candidate, None))  # to be skipped at once
            continue
        if room[webhook_id] <= 0:
            picked.saturated.add(webhook_id)
            continue
        not_before = None
        if caps.rate_limit is not None:
            start = max(now, starts.get(webhook_id, now))
            if start > horizon:
                picked.saturated.add(webhook_id)
                continue
            starts[webhook_id] = start + timedelta(seconds=1 / caps.rate_limit)
            picked.next_starts[webhook_id] = starts[webhook_id]
            not_before = start if start > now else None
        room[webhook_id] -= 1
        picked.claims.append((candidate, not_before))
    return picked
