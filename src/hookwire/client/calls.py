"""A request described once, for the sync and the async client alike.

Every endpoint is a function returning a :class:`Call`: the method, path,
query and body, and how to read a 2xx answer. :class:`~hookwire.client.Client`
sends it with ``httpx.Client``, :class:`~hookwire.client.AsyncClient` with
``httpx.AsyncClient``; :func:`answer` turns the response into the result or
the error in both.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx
from pydantic import ValidationError

from hookwire import __version__
from hookwire.client.errors import UnexpectedAnswer, describe, error_for

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

# Long enough for a large fan-out on a busy server; the server itself answers
# 503 well within it when its database is slow.
DEFAULT_TIMEOUT_SECONDS = 30.0
USER_AGENT = f"hookwire-client/{__version__}"
# What is wrong with an unreadable answer: the first few, the rest is noise.
MAX_REPORTED_PROBLEMS = 5


@dataclass(frozen=True)
class Call(Generic[T]):
    """One request to the API and how to read its 2xx answer."""

    method: str
    path: str
    read: Callable[[httpx.Response], T]
    params: Mapping[str, str] = field(default_factory=dict)
    body: Mapping[str, object] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)

    def with_cursor(self, cursor: str) -> Call[T]:
        """The same list call, for the page that ``cursor`` starts."""
        return replace(self, params={**self.params, "cursor": cursor})


def with_json(call: Call[T]) -> Call[tuple[T, Any]]:
    """``call`` reading both its result and the answer's JSON as the server sent it.

    For a caller that shows the answer itself (``hookwire … --json``) or keeps
    fields this client does not know: ``client.send(with_json(call))``.
    """
    read = call.read

    def both(response: httpx.Response) -> tuple[T, Any]:
        return read(response), response.json()

    return Call(call.method, call.path, both, call.params, call.body, call.headers)


def answer(call: Call[T], response: httpx.Response) -> T:
    """The result of ``call`` from its ``response``, or the error the response stands for."""
    if not response.is_success:
        raise error_for(response)
    try:
        return call.read(response)
    except ValueError as exc:  # not JSON, or JSON without what the result needs
        raise UnexpectedAnswer(
            response.status_code,
            "Unexpected answer",
            f"the answer cannot be read by this client (version {__version__}); "
            f"is the server a hookwire of the same major version? {_why(exc)}",
            request=describe(response),
        ) from None  # a traceback would print the cause, quoting the answer


def _why(exc: ValueError) -> str:
    if not isinstance(exc, ValidationError):
        return str(exc)
    # Where and what only: pydantic's own message quotes the input, and an
    # answer may hold a webhook's token.
    problems = exc.errors(include_url=False, include_input=False)
    return "; ".join(
        f"{'.'.join(str(part) for part in problem['loc'])}: {problem['msg']}"
        for problem in problems[:MAX_REPORTED_PROBLEMS]
    )


def http_options(url: str, key: str, timeout: float) -> dict[str, Any]:
    """What the sync and the async httpx client are both built with."""
    if not key:
        raise ValueError("an API key is needed: the admin key or a tenant key")
    return {
        "base_url": url,
        "headers": {
            "Authorization": f"Bearer {key}",
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        },
        "timeout": timeout,
        # hookwire never redirects an API call; following one would resend the key.
        "follow_redirects": False,
    }


def path(*segments: str) -> str:
    """``/v1/…`` from segments, each id escaped so that it stays one segment."""
    parts = []
    for segment in segments:
        if not segment:
            raise ValueError("an id in the path must not be empty")
        part = quote(segment, safe="")
        # "." and ".." would be resolved away by URL normalisation.
        parts.append(part.replace(".", "%2E") if part in (".", "..") else part)
    return "/v1/" + "/".join(parts)


def query(**values: object) -> dict[str, str]:
    """Query parameters in the API's spelling, leaving out those that are None."""
    params: dict[str, str] = {}
    for name, value in values.items():
        if value is None:
            continue
        params[camel(name)] = encode(name, value)
    return params


def encode(name: str, value: object) -> str:
    """One query or body value as text: booleans in JSON's spelling, times in ISO 8601."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return iso_time(name, value)
    return str(value)


def iso_time(name: str, value: datetime) -> str:
    """``value`` in ISO 8601; a naive time is refused, since the server could not place it."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, e.g. datetime.now(UTC)")
    return value.isoformat()


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word.capitalize() for word in rest)


def as_method(method: F, endpoint: Callable[..., Any], owner: str, *, pages: str = "") -> F:
    """``method`` (which sends what ``endpoint`` describes), documented as ``endpoint``.

    It keeps the endpoint's docstring and parameters for ``help()`` and
    editors, with ``self`` first. With ``pages`` (``"Iterator"`` or
    ``"AsyncIterator"``) it is the ``iter_…`` form of a ``list_…`` endpoint,
    yielding the items of every page.
    """
    module = method.__module__
    functools.update_wrapper(method, endpoint)
    method.__module__ = module
    signature = inspect.signature(endpoint)
    result = str(signature.return_annotation).removeprefix("Call[").removesuffix("]")
    if pages:
        method.__name__ = endpoint.__name__.replace("list_", "iter_", 1)
        method.__doc__ = (
            f"Every item that ``{endpoint.__name__}`` lists, page after page, following "
            "``nextCursor`` (``limit`` is the page size)."
        )
        result = f"{pages}[{result.removeprefix('Page[').removesuffix(']')}]"
    method.__qualname__ = f"{owner}.{method.__name__}"
    self_parameter = inspect.Parameter("self", inspect.Parameter.POSITIONAL_ONLY)
    # Set on the method, so that inspect stops here instead of following
    # __wrapped__ to the endpoint (which has no self to drop when bound).
    method.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[self_parameter, *signature.parameters.values()], return_annotation=result
    )
    return method
