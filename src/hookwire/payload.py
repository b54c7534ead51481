"""The request body hookwire sends: exactly ``{"event", "data", "triggeredAt"}``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import orjson


def format_timestamp(moment: datetime) -> str:
    """ISO 8601 UTC with microseconds and a ``Z``, e.g. ``2018-04-20T13:11:34.692694Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def build_payload(event_type: str, data: dict[str, Any], triggered_at: datetime) -> bytes:
    """The body bytes, fixed when the event is accepted and sent unchanged on every attempt."""
    body = {"event": event_type, "data": data, "triggeredAt": format_timestamp(triggered_at)}
    try:
        # Compact UTF-8, as json.dumps with these options, several times faster.
        return orjson.dumps(body)
    except orjson.JSONEncodeError:
        # An integer beyond 64 bits, which JSON allows and orjson does not encode.
        return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def payload_data(payload: bytes) -> dict[str, Any]:
    """The ``data`` object of a stored payload."""
    data = json.loads(payload)["data"]
    assert isinstance(data, dict)
    return data
