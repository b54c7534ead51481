"""Errors the client raises: one for every answer outside 2xx, by status.

hookwire answers errors as RFC 9457 ``application/problem+json``; the
exception carries that document. An answer that is not one (a proxy's HTML
``502``) still raises, with what could be read of it as the detail.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from http import HTTPStatus

import httpx

# RFC 9457: a problem without a type is "about:blank" (the status says it all).
UNTYPED_PROBLEM = "about:blank"
# How much of a non-problem answer's text goes into the detail.
MAX_DETAIL_EXCERPT_CHARS = 200
_TAG = re.compile(r"<[^>]*>")
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class FieldError:
    """What is wrong with one field of the request, as the server names the field."""

    field: str
    message: str


class HookwireError(Exception):
    """The server answered outside 2xx; the attributes are its problem document."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        *,
        type: str = UNTYPED_PROBLEM,
        errors: tuple[FieldError, ...] = (),
        request: str = "",
    ) -> None:
        self.status = status
        self.title = title
        self.detail = detail
        self.type = type
        self.errors = errors
        self.request = request  # "METHOD /path", to tell which call failed
        where = f" ({request})" if request else ""
        super().__init__(f"{status} {title}: {detail}{where}")


class Unauthorized(HookwireError):
    """401: no key, or one that is not valid (revoked, mistyped, for another server)."""


class Forbidden(HookwireError):
    """403: a valid key that may not do this (a tenant key on an admin route)."""


class NotFound(HookwireError):
    """404: it does not exist, or belongs to another tenant."""


class Conflict(HookwireError):
    """409: it collides with something that exists (a tenant id already taken)."""


class Invalid(HookwireError):
    """422: the input is not valid; ``errors`` names each field and what is wrong."""


class Unavailable(HookwireError):
    """503: the server cannot serve now; retry after ``retry_after`` seconds (when said)."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        *,
        type: str = UNTYPED_PROBLEM,
        errors: tuple[FieldError, ...] = (),
        request: str = "",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(status, title, detail, type=type, errors=errors, request=request)
        self.retry_after = retry_after


class UnexpectedAnswer(HookwireError):
    """A 2xx answer this client cannot read (not JSON, or missing what it needs)."""


_BY_STATUS: dict[int, type[HookwireError]] = {
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    422: Invalid,
    503: Unavailable,
}


def describe(response: httpx.Response) -> str:
    """``METHOD /path`` of the request this answers."""
    return f"{response.request.method} {response.request.url.path}"


def error_for(response: httpx.Response) -> HookwireError:
    """The exception for a non-2xx ``response``, of the class its status calls for."""
    status = response.status_code
    phrase = _phrase(status)
    problem = _problem_document(response)
    errors: tuple[FieldError, ...] = ()
    if problem is None:
        title, detail, kind = phrase, _not_a_problem(response), UNTYPED_PROBLEM
    else:
        title = _text(problem.get("title")) or phrase
        detail = _text(problem.get("detail")) or title
        kind = _text(problem.get("type")) or UNTYPED_PROBLEM
        errors = _field_errors(problem.get("errors"))
    cls = _BY_STATUS.get(status, HookwireError)
    request = describe(response)
    if cls is Unavailable:
        retry_after = _retry_after_seconds(response.headers.get("Retry-After"))
        return Unavailable(
            status,
            title,
            detail,
            type=kind,
            errors=errors,
            request=request,
            retry_after=retry_after,
        )
    return cls(status, title, detail, type=kind, errors=errors, request=request)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"


def _media_type(response: httpx.Response) -> str:
    content_type: str = response.headers.get("Content-Type", "")
    return content_type.split(";")[0].strip().lower()


def _problem_document(response: httpx.Response) -> dict[str, object] | None:
    if _media_type(response) not in ("application/problem+json", "application/json"):
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _field_errors(value: object) -> tuple[FieldError, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(
        FieldError(_text(item.get("field")), _text(item.get("message")))
        for item in value
        if isinstance(item, dict)
    )


def _not_a_problem(response: httpx.Response) -> str:
    media_type = _media_type(response) or "no content type"
    # Markup stripped and whitespace folded: a proxy's error page reads as its words.
    text = _SPACE.sub(" ", _TAG.sub(" ", response.text)).strip()
    if len(text) > MAX_DETAIL_EXCERPT_CHARS:
        text = text[:MAX_DETAIL_EXCERPT_CHARS] + "…"
    said = f": {text}" if text else " with an empty body"
    return (
        f"the answer is not a hookwire problem document ({media_type}), so it probably "
        f"comes from something between this client and hookwire (a proxy or load "
        f"balancer){said}"
    )


def _retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds from now: either delay-seconds or an HTTP date."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
