"""The pure rules of a webhook's life, table by table: fan-out, health, an attempt's outcome."""

from __future__ import annotations

import dataclasses
import random
from datetime import UTC, datetime, timedelta

import pytest

from hookwire import fanout, health
from hookwire.enums import DeliveryState, Trigger, WebhookStatus
from hookwire.records import AttemptResult
from hookwire.retry import Decision, RetryPolicy, decide

T0 = datetime(2030, 1, 1, tzinfo=UTC)
HEALTHY, UNHEALTHY, SUSPENDED = (
    WebhookStatus.HEALTHY,
    WebhookStatus.UNHEALTHY,
    WebhookStatus.SUSPENDED,
)
PENDING, SKIPPED = DeliveryState.PENDING, DeliveryState.SKIPPED


@pytest.mark.parametrize(
    ("events", "active", "status", "test_for", "expected"),
    [
        (["license.created"], True, HEALTHY, None, PENDING),
        (["*"], True, UNHEALTHY, None, PENDING),
        (["license.expired"], True, HEALTHY, None, None),  # not subscribed
        (["license.created"], False, HEALTHY, None, None),  # disabled: nothing
        (["license.created"], True, SUSPENDED, None, SKIPPED),  # recoverable later
        (["license.created"], False, SUSPENDED, None, SKIPPED),  # 410 disables and suspends
        (["license.expired"], True, SUSPENDED, None, None),
        (["license.expired"], False, SUSPENDED, "wh", PENDING),  # a test goes regardless
        (["*"], True, HEALTHY, "other", None),  # a test goes to its webhook only
    ],
)
def test_fan_out(
    events: list[str],
    active: bool,
    status: WebhookStatus,
    test_for: str | None,
    expected: DeliveryState | None,
) -> None:
    webhook = fanout.Subscriber("wh", events, active, status)
    assert fanout.route("license.created", webhook, test_for) == expected


def _result(minutes: float, *, success: bool, status: int | None = 200) -> AttemptResult:
    at = T0 + timedelta(minutes=minutes)
    return AttemptResult(
        delivery_id="d",
        tenant_id="t",
        webhook_id="wh",
        event_id="e",
        event_type="license.created",
        attempt=1,
        trigger=Trigger.SCHEDULED,
        retry_reason=None,
        sent_at=at,
        received_at=at,
        finished_at=at,
        duration_ms=1,
        status_code=status,
        success=success,
        error=None if success else f"HTTP {status}",
        request_headers={},
        response_headers=None,
        response_body=None,
        state=DeliveryState.SUCCEEDED if success else DeliveryState.FAILED,
        webhook_gone=status == 410,
    )


def OK(minutes: float) -> AttemptResult:
    return _result(minutes, success=True)


def FAIL(minutes: float) -> AttemptResult:
    return _result(minutes, success=False, status=500)


def GONE(minutes: float) -> AttemptResult:
    return _result(minutes, success=False, status=410)


@pytest.mark.parametrize(
    ("before", "failing_since", "batch", "suspend_before", "after", "active", "since"),
    [
        # A success heals, and ends the run of failures.
        (UNHEALTHY, T0, [OK(1)], T0, HEALTHY, True, None),
        # A failure makes it unhealthy; the run starts at the first failure.
        (HEALTHY, None, [FAIL(1), FAIL(2)], T0, UNHEALTHY, True, T0 + timedelta(minutes=1)),
        # ... or continues the run that was already going.
        (UNHEALTHY, T0, [FAIL(5)], T0 - timedelta(days=1), UNHEALTHY, True, T0),
        # Failing since before the window: suspended.
        (UNHEALTHY, T0, [FAIL(5)], T0 + timedelta(minutes=1), SUSPENDED, True, T0),
        # A success late in the batch wins; a failure after it starts a new run.
        (UNHEALTHY, T0, [FAIL(1), OK(2), FAIL(3)], T0, UNHEALTHY, True, T0 + timedelta(minutes=3)),
        # 410 suspends and disables at once.
        (HEALTHY, None, [GONE(1)], T0, SUSPENDED, False, T0 + timedelta(minutes=1)),
        # Only re-activation ends a suspension: a successful resend does not.
        (SUSPENDED, T0, [OK(1)], T0, SUSPENDED, True, None),
    ],
)
def test_health(
    before: WebhookStatus,
    failing_since: datetime | None,
    batch: list[AttemptResult],
    suspend_before: datetime,
    after: WebhookStatus,
    active: bool,
    since: datetime | None,
) -> None:
    outcome = health.outcomes(batch)["wh"]
    current = health.Health(before, True, failing_since)
    assert health.next_health(current, outcome, suspend_before) == health.Health(
        after, active, since
    )


def test_skips_say_nothing_about_health() -> None:
    skipped = dataclasses.replace(_result(1, success=False, status=None), state=SKIPPED)
    assert health.outcomes([skipped]) == {}
    assert set(health.outcomes([skipped, OK(2)])) == {"wh"}


POLICY = RetryPolicy(schedule=(5, 300), jitter=0)


@pytest.mark.parametrize(
    ("attempt", "failure", "retryable", "retry_after", "expected"),
    [
        (1, None, False, None, Decision(DeliveryState.SUCCEEDED)),
        (1, "HTTP 500", True, None, Decision(PENDING, T0 + timedelta(seconds=5), "HTTP 500")),
        (
            2,
            "timeout after 15 s",
            True,
            None,
            Decision(PENDING, T0 + timedelta(seconds=300), "timeout after 15 s"),
        ),
        (3, "HTTP 500", True, None, Decision(DeliveryState.FAILED)),  # schedule exhausted
        (1, "address not allowed: x", False, None, Decision(DeliveryState.FAILED)),
        (1, "HTTP 410", False, None, Decision(DeliveryState.FAILED)),
        # Retry-After, clamped to the schedule's bounds.
        (1, "HTTP 429", True, "60", Decision(PENDING, T0 + timedelta(seconds=60), "HTTP 429")),
        (1, "HTTP 503", True, "9999", Decision(PENDING, T0 + timedelta(seconds=300), "HTTP 503")),
    ],
)
def test_an_attempts_outcome(
    attempt: int, failure: str | None, retryable: bool, retry_after: str | None, expected: Decision
) -> None:
    decision = decide(
        attempt,
        failure,
        retryable=retryable,
        retry_after=retry_after,
        finished_at=T0,
        policy=POLICY,
        rng=random.Random(0),
    )
    assert decision == expected
