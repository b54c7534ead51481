"""Identifiers and secrets: sortable prefixed ids, API keys (webhook tokens: signing.py)."""

from __future__ import annotations

import os
import secrets
import time

_CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"


def new_id(prefix: str) -> str:
    """A ULID-like id, ``<prefix>_<26 chars>``: 48 bits of milliseconds then 80 random bits.

    Ids sort by creation time, which keeps B-tree inserts at the right edge and
    makes them usable as a tie-breaker in time-ordered keyset pagination.
    """
    value = (int(time.time() * 1000) << 80) | int.from_bytes(os.urandom(10), "big")
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return f"{prefix}_{''.join(reversed(chars))}"


def new_api_key(kind: str) -> str:
    """An API key shown once to its owner; only its hash is stored."""
    return f"hw_{kind}_{secrets.token_urlsafe(32)}"
