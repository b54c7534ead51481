"""Webhook signatures: the hookwire scheme and the Standard Webhooks scheme.

Pure standard library, so a receiver may copy this file as it is.

- ``hookwire`` (the default): ``Webhook-Signature: base64(HMAC-SHA256(token, body))``,
  the key being the token's UTF-8 bytes.
- ``standard`` (https://www.standardwebhooks.com): ``webhook-signature: v1,<base64
  HMAC-SHA256 of "id.timestamp.body">``; the key is the decoded ``whsec_…`` secret, or
  the token's UTF-8 bytes for any other token (its ``whsec_`` form is :func:`standard_secret`).

During a token rotation every current token signs and the signatures are
space-separated; a receiver accepts the request when any one of them matches.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time
from collections.abc import Sequence

SCHEME_HOOKWIRE = "hookwire"
SCHEME_STANDARD = "standard"
SCHEMES = (SCHEME_HOOKWIRE, SCHEME_STANDARD)

STANDARD_SECRET_PREFIX = "whsec_"
STANDARD_SIGNATURE_VERSION = "v1"
DEFAULT_TOLERANCE_SECONDS = 300
TOKEN_RANDOM_BYTES = 32

HEADER_ID = "Webhook-Id"
HEADER_TIMESTAMP = "Webhook-Timestamp"
HEADER_SIGNATURE = "Webhook-Signature"


def _digest(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()


def _decoded_standard_secret(token: str) -> bytes | None:
    """The key bytes of a ``whsec_<base64>`` token, or None when it is not in that form."""
    if not token.startswith(STANDARD_SECRET_PREFIX):
        return None
    encoded = token[len(STANDARD_SECRET_PREFIX) :]
    try:
        # Padding may be left off, as the standardwebhooks library also accepts.
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None
    return key or None


def standard_key(token: str) -> bytes:
    """The HMAC key of the standard scheme: the decoded ``whsec_`` secret, else UTF-8 bytes."""
    decoded = _decoded_standard_secret(token)
    return token.encode() if decoded is None else decoded


def standard_secret(token: str) -> str:
    """The ``whsec_…`` secret a receiver passes to ``standardwebhooks.Webhook``."""
    if _decoded_standard_secret(token) is not None:
        return token
    return STANDARD_SECRET_PREFIX + base64.b64encode(token.encode()).decode()


def generate_token(scheme: str) -> str:
    """A new random token in the usual form of ``scheme``."""
    if scheme == SCHEME_HOOKWIRE:
        return secrets.token_urlsafe(TOKEN_RANDOM_BYTES)
    if scheme == SCHEME_STANDARD:
        raw = secrets.token_bytes(TOKEN_RANDOM_BYTES)
        return STANDARD_SECRET_PREFIX + base64.b64encode(raw).decode()
    raise ValueError(f"unknown signature scheme {scheme!r}; use one of {', '.join(SCHEMES)}")


def sign(token: str, body: bytes) -> str:
    """The hookwire-scheme signature: base64 of HMAC-SHA256(key=token, msg=body)."""
    return base64.b64encode(_digest(token.encode(), body)).decode()


def _candidates(header: str) -> list[bytes]:
    return [part.encode("utf-8", "replace") for part in header.split()]


def verify(token: str, body: bytes, header: str) -> bool:
    """Whether a hookwire-scheme delivery is genuine: the receiver's one call.

    ``token`` is the webhook's token, ``body`` the request body exactly as
    received (bytes, not re-serialised JSON), ``header`` the value of
    ``Webhook-Signature``. True when any of its space-separated signatures (two
    during a token rotation) is ``sign(token, body)``; compared in constant time.
    """
    expected = sign(token, body).encode()
    return any(hmac.compare_digest(expected, given) for given in _candidates(header))


def _standard_message(msg_id: str, timestamp: int, body: bytes) -> bytes:
    return f"{msg_id}.{timestamp}.".encode() + body


def sign_standard(token: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The standard-scheme signature ``v1,<base64>`` of ``"{msg_id}.{timestamp}.{body}"``."""
    digest = _digest(standard_key(token), _standard_message(msg_id, timestamp, body))
    return f"{STANDARD_SIGNATURE_VERSION},{base64.b64encode(digest).decode()}"


def verify_standard(
    token: str,
    msg_id: str,
    timestamp: int,
    body: bytes,
    header: str,
    *,
    tolerance_seconds: float = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> bool:
    """True when ``header`` holds a matching ``v1,`` signature and the timestamp is recent.

    ``now`` is unix seconds (default: the current time); a timestamp more than
    ``tolerance_seconds`` away from it is refused, which stops replays.
    """
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_seconds:
        return False
    expected = sign_standard(token, msg_id, timestamp, body).encode()
    return any(hmac.compare_digest(expected, given) for given in _candidates(header))


def signature_headers(
    scheme: str, tokens: Sequence[str], msg_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    """The id, timestamp and signature headers of one delivery attempt.

    ``tokens`` is ``[current]``, or ``[current, previous]`` during a rotation's
    grace period: each signs, and the signatures are space-separated.
    """
    if scheme == SCHEME_HOOKWIRE:
        signatures = [base64.b64encode(_digest(t.encode(), body)).decode() for t in tokens]
    elif scheme == SCHEME_STANDARD:
        message = _standard_message(msg_id, timestamp, body)
        signatures = [
            "v1," + base64.b64encode(_digest(standard_key(t), message)).decode() for t in tokens
        ]
    else:
        raise ValueError(f"unknown signature scheme {scheme!r}; use one of {', '.join(SCHEMES)}")
    return {
        HEADER_ID: msg_id,
        HEADER_TIMESTAMP: str(timestamp),
        HEADER_SIGNATURE: " ".join(signatures),
    }
