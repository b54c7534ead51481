"""Ids and the request body: the exact forms receivers and the database see."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from typing import Any

import pytest

from hookwire.ids import new_id
from hookwire.payload import build_payload, payload_data

CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"


def digits_by_hand(value: int) -> str:
    """The 26 base-32 digits of a 128-bit value, most significant first."""
    return "".join(CROCKFORD[(value >> (5 * i)) & 31] for i in reversed(range(26)))


@pytest.mark.parametrize(
    "value", [0, 1, 2**128 - 1, 2**80, *(random.Random(7).getrandbits(128) for _ in range(200))]
)
def test_an_id_is_the_value_in_crockford_base32(
    value: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    milliseconds, randomness = value >> 80, value & (2**80 - 1)
    monkeypatch.setattr("hookwire.ids.time.time", lambda: milliseconds / 1000 + 0.0001)
    monkeypatch.setattr("hookwire.ids.os.urandom", lambda n: randomness.to_bytes(n, "big"))
    assert new_id("evt") == f"evt_{digits_by_hand(value)}"


def test_ids_sort_by_the_millisecond_they_were_made(monkeypatch: pytest.MonkeyPatch) -> None:
    made = []
    for ms in (1_700_000_000_000, 1_700_000_000_001, 1_800_000_000_000):
        monkeypatch.setattr("hookwire.ids.time.time", lambda ms=ms: ms / 1000)
        made.append(new_id("dlv"))
    assert made == sorted(made)
    assert all(len(i) == len("dlv_") + 26 and set(i[4:]) <= set(CROCKFORD) for i in made)


MOMENT = datetime(2018, 4, 20, 13, 11, 34, 692694, tzinfo=UTC)


@pytest.mark.parametrize(
    "data",
    [
        {"licenseKey": "K-1"},
        {"name": "Zoë €", "nested": {"list": [1, 2.5, None, True, "\u0000"]}},
        {"float": 1e30, "small": 0.1, "negative": -0.0},
        {"huge": 10**30},  # beyond 64 bits: valid JSON all the same
    ],
)
def test_the_body_is_compact_utf8_json_with_the_seeds_fields(data: dict[str, Any]) -> None:
    body = build_payload("license.created", data, MOMENT)
    expected = {
        "event": "license.created",
        "data": data,
        "triggeredAt": "2018-04-20T13:11:34.692694Z",
    }
    assert body == json.dumps(expected, separators=(",", ":"), ensure_ascii=False).encode()
    assert payload_data(body) == data
