"""``AsyncClient``: the API over asyncio HTTP (``httpx.AsyncClient``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from types import TracebackType
from typing import Concatenate, ParamSpec, Self, TypeVar

import httpx

from hookwire.client import endpoints as api
from hookwire.client.calls import DEFAULT_TIMEOUT_SECONDS, Call, answer, as_method, http_options
from hookwire.client.models import Page

P = ParamSpec("P")
T = TypeVar("T")


def _sends(endpoint: Callable[P, Call[T]]) -> Callable[Concatenate[AsyncClient, P], Awaitable[T]]:
    async def method(self: AsyncClient, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return await self.send(endpoint(*args, **kwargs))

    return as_method(method, endpoint, "AsyncClient")


def _iterates(
    endpoint: Callable[P, Call[Page[T]]],
) -> Callable[Concatenate[AsyncClient, P], AsyncIterator[T]]:
    def method(self: AsyncClient, /, *args: P.args, **kwargs: P.kwargs) -> AsyncIterator[T]:
        return self.iterate(endpoint(*args, **kwargs))

    return as_method(method, endpoint, "AsyncClient", pages="AsyncIterator")


class AsyncClient:
    """An asyncio client for one hookwire server, acting with one API key.

    The same methods as :class:`~hookwire.client.Client`, awaited; the
    ``iter_…`` methods are async iterators. Use it as an async context
    manager, or await :meth:`close`. ``transport`` replaces httpx's network
    transport: ``httpx.ASGITransport(app)`` talks to an app in-process.
    """

    def __init__(
        self,
        url: str,
        key: str,
        *,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._http = httpx.AsyncClient(**http_options(url, key, timeout), transport=transport)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the connections."""
        await self._http.aclose()

    async def send(self, call: Call[T]) -> T:
        """Send one described request and read its answer (the methods below use this)."""
        response = await self._http.request(
            call.method, call.path, params=call.params, json=call.body, headers=call.headers
        )
        return answer(call, response)

    async def iterate(self, call: Call[Page[T]]) -> AsyncIterator[T]:
        """Every item of a list call, page after page, following ``nextCursor``."""
        while True:
            page = await self.send(call)
            for item in page.data:
                yield item
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
