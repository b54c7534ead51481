"""``Client``: the API over blocking HTTP (``httpx.Client``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Concatenate, ParamSpec, Self, TypeVar

import httpx

from hookwire.client import endpoints as api
from hookwire.client.calls import DEFAULT_TIMEOUT_SECONDS, Call, answer, as_method, http_options
from hookwire.client.models import Page

P = ParamSpec("P")
T = TypeVar("T")


def _sends(endpoint: Callable[P, Call[T]]) -> Callable[Concatenate[Client, P], T]:
    def method(self: Client, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return self.send(endpoint(*args, **kwargs))

    return as_method(method, endpoint, "Client")


def _iterates(
    endpoint: Callable[P, Call[Page[T]]],
) -> Callable[Concatenate[Client, P], Iterator[T]]:
    def method(self: Client, /, *args: P.args, **kwargs: P.kwargs) -> Iterator[T]:
        return self.iterate(endpoint(*args, **kwargs))

    return as_method(method, endpoint, "Client", pages="Iterator")


class Client:
    """A blocking client for one hookwire server, acting with one API key.

    ``url`` is where hookwire answers (``http://127.0.0.1:8080``); ``key`` is
    the admin key or a tenant key. Use it as a context manager, or call
    :meth:`close`. Errors are :class:`~hookwire.client.HookwireError`;
    a connection that fails raises httpx's ``TransportError``.
    ``transport`` replaces httpx's network transport (for tests).
    """

    def __init__(
        self,
        url: str,
        key: str,
        *,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._http = httpx.Client(**http_options(url, key, timeout), transport=transport)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connections."""
        self._http.close()

    def send(self, call: Call[T]) -> T:
        """Send one described request and read its answer (the methods below use this)."""
        response = self._http.request(
            call.method, call.path, params=call.params, json=call.body, headers=call.headers
        )
        return answer(call, response)

    def iterate(self, call: Call[Page[T]]) -> Iterator[T]:
        """Every item of a list call, page after page, following ``nextCursor``."""
        while True:
            page = self.send(call)
            yield from page.data
            if page.next_cursor is None:
                return
            call = call.with_cursor(page.next_cursor)

    create_event_type = _sends(api.create_event_type)
    list_event_types = _sends(api.list_event_types)
    iter_event_types = _iterates(api.list_event_types)
    get_event_type = _sends(api.get_event_type)
    update_event_type = _sends(api.update_event_type)
    delete_event_type = _sends(api.delete_event_type)

    create_tenant = _sends(api.create_tenant)
    list_tenants = _sends(api.list_tenants)
    iter_tenants = _iterates(api.list_tenants)
    get_tenant = _sends(api.get_tenant)
    update_tenant = _sends(api.update_tenant)
    delete_tenant = _sends(api.delete_tenant)

    create_api_key = _sends(api.create_api_key)
    list_api_keys = _sends(api.list_api_keys)
    iter_api_keys = _iterates(api.list_api_keys)
    revoke_api_key = _sends(api.revoke_api_key)
    create_portal_link = _sends(api.create_portal_link)
    end_portal_sessions = _sends(api.end_portal_sessions)

    create_webhook = _sends(api.create_webhook)
    list_webhooks = _sends(api.list_webhooks)
    iter_webhooks = _iterates(api.list_webhooks)
    get_webhook = _sends(api.get_webhook)
    update_webhook = _sends(api.update_webhook)
    delete_webhook = _sends(api.delete_webhook)
    send_test_event = _sends(api.send_test_event)
    rotate_webhook_token = _sends(api.rotate_webhook_token)
    recover_webhook = _sends(api.recover_webhook)
    list_webhook_logs = _sends(api.list_webhook_logs)
    iter_webhook_logs = _iterates(api.list_webhook_logs)

    send_event = _sends(api.send_event)
    list_events = _sends(api.list_events)
    iter_events = _iterates(api.list_events)
    get_event = _sends(api.get_event)
    get_delivery = _sends(api.get_delivery)
    resend_delivery = _sends(api.resend_delivery)
