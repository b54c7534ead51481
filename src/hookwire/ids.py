"""Identifiers and secrets: sortable prefixed ids, API keys (webhook tokens: signing.py)."""

from __future__ import annotations

import base64
import os
import secrets
import time

_CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"
# base32hex ("0-9A-V") is base32 in the order of Crockford's alphabet, with
# other letters: encoding in C and translating is ten times faster than a
# loop over 26 digits, on a path that makes one id per event and delivery.
_FROM_BASE32HEX = bytes.maketrans(b"0123456789ABCDEFGHIJKLMNOPQRSTUV", _CROCKFORD.encode())


def new_id(prefix: str) -> str:
    """A ULID-like id, ``<prefix>_<26 chars>``: 48 bits of milliseconds then 80 random bits.

    Ids sort by creation time, which keeps B-tree inserts at the right edge and
    makes them usable as a tie-breaker in time-ordered keyset pagination.
    """
    value = (int(time.time() * 1000) << 80) | int.from_bytes(os.urandom(10), "big")
    # 26 digits of 5 bits hold 130 bits: the value's 128, led by two zero bits.
    # Shifted up to 160 bits (20 bytes, 32 digits, no padding), its first 26
    # digits are exactly those.
    digits = base64.b32hexencode((value << 30).to_bytes(20, "big"))[:26]
    return f"{prefix}_{digits.translate(_FROM_BASE32HEX).decode()}"


def new_api_key(kind: str) -> str:
    """An API key shown once to its owner; only its hash is stored."""
    return f"hw_{kind}_{secrets.token_urlsafe(32)}"
