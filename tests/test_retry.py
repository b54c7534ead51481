"""The retry policy: schedule, jitter, Retry-After clamping and parsing."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

import pytest

from hookwire.config import DEFAULT_RETRY_SCHEDULE_SECONDS, Settings
from hookwire.retry import RetryPolicy, parse_retry_after

NOW = datetime(1994, 11, 6, 8, 49, 7, tzinfo=UTC)


def test_default_settings_give_eight_attempts_over_about_27_hours() -> None:
    policy = RetryPolicy.from_settings(Settings())
    assert policy.schedule == DEFAULT_RETRY_SCHEDULE_SECONDS
    assert policy.jitter == 0.2
    assert policy.max_attempts == 8
    assert 26 * 3600 < sum(policy.schedule) < 28 * 3600


def test_schedule_from_environment_string() -> None:
    policy = RetryPolicy.from_settings(Settings(retry_schedule="1,1,1", retry_jitter=0))
    assert policy == RetryPolicy(schedule=(1.0, 1.0, 1.0), jitter=0)
    assert policy.max_attempts == 4


def test_without_jitter_the_schedule_is_followed_then_exhausted() -> None:
    policy = RetryPolicy(schedule=(5, 300, 1800), jitter=0)
    rng = random.Random(1)
    delays = [policy.delay_after(n, rng) for n in range(1, 6)]
    assert delays == [5, 300, 1800, None, None]


def test_jitter_stays_within_its_fraction_and_varies() -> None:
    policy = RetryPolicy(schedule=(100,), jitter=0.2)
    rng = random.Random(42)
    delays = [policy.delay_after(1, rng) for _ in range(2000)]
    assert all(d is not None and 80 <= d <= 120 for d in delays)
    values = [d for d in delays if d is not None]
    assert min(values) < 82 and max(values) > 118  # it uses the whole range
    assert 98 < sum(values) / len(values) < 102  # and is centred


def test_same_seed_same_delays() -> None:
    policy = RetryPolicy(schedule=(10, 20), jitter=0.5)
    first = [policy.delay_after(n, random.Random(7)) for n in (1, 2)]
    second = [policy.delay_after(n, random.Random(7)) for n in (1, 2)]
    assert first == second


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [(60.0, 60.0), (1.0, 5.0), (0.0, 5.0), (99_999.0, 1800.0), (5.0, 5.0), (1800.0, 1800.0)],
)
def test_retry_after_replaces_the_delay_clamped_without_jitter(
    retry_after: float, expected: float
) -> None:
    policy = RetryPolicy(schedule=(5, 300, 1800), jitter=0.2)
    assert policy.delay_after(2, random.Random(0), retry_after) == expected


def test_retry_after_does_not_extend_an_exhausted_schedule() -> None:
    policy = RetryPolicy(schedule=(5, 300), jitter=0)
    assert policy.delay_after(3, random.Random(0), retry_after=10) is None


def test_empty_schedule_means_one_attempt() -> None:
    policy = RetryPolicy(schedule=(), jitter=0)
    assert policy.max_attempts == 1
    assert policy.delay_after(1, random.Random(0), retry_after=10) is None


def test_invalid_policies_and_counts_are_refused() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(schedule=(-1,), jitter=0)
    with pytest.raises(ValueError):
        RetryPolicy(schedule=(1,), jitter=1)
    with pytest.raises(ValueError):
        RetryPolicy(schedule=(1,), jitter=0).delay_after(0, random.Random(0))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("120", 120.0),
        (" 120 ", 120.0),
        ("0", 0.0),
        ("1.5", 1.5),
        ("-5", None),
        ("soon", None),
        ("12s", None),
        ("Sun, 06 Nov 1994 08:49:37 GMT", 30.0),  # IMF-fixdate
        ("Sunday, 06-Nov-94 08:49:37 GMT", 30.0),  # obsolete RFC 850
        ("Sun Nov  6 08:49:37 1994", 30.0),  # obsolete asctime
        ("Sun, 06 Nov 1994 08:48:37 GMT", 0.0),  # in the past: now
        ("Sun, 06 Nov 1994 09:49:07 GMT", 3600.0),
        ("Sun, 32 Nov 1994 08:49:37 GMT", None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, NOW) == expected


def test_parse_retry_after_with_other_timezones_for_now() -> None:
    header = "Sun, 06 Nov 1994 08:49:37 GMT"
    plus_two = NOW.astimezone(timezone(timedelta(hours=2)))
    assert parse_retry_after(header, plus_two) == 30.0
    assert parse_retry_after(header, NOW.replace(tzinfo=None)) == 30.0
