"""How secrets look where they must be shown but not given away: lists and the event log."""

from __future__ import annotations

from collections.abc import Mapping

MASK = "••••"
MASKED_TOKEN_VISIBLE_CHARS = 4
# "Bearer", "Basic", "Token"…: an authorization scheme is not secret and tells a
# person which credential a header holds; anything longer is treated as secret.
MAX_SHOWN_SCHEME_CHARS = 16


def mask_token(token: str) -> str:
    """A webhook token with only its first characters shown: ``abcd…``."""
    return token[:MASKED_TOKEN_VISIBLE_CHARS] + "…" if token else ""


def mask_header_value(value: str) -> str:
    """A custom header's value as lists and the event log show it: ``Bearer ••••``.

    Custom headers usually carry a receiver's credentials, so nothing of the
    value is shown but a leading authorization scheme.
    """
    scheme, space, _ = value.partition(" ")
    if space and scheme.isalpha() and len(scheme) <= MAX_SHOWN_SCHEME_CHARS:
        return f"{scheme} {MASK}"
    return MASK


def mask_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Every value of ``headers`` masked with :func:`mask_header_value`."""
    return {name: mask_header_value(value) for name, value in headers.items()}
