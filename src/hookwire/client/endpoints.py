"""Every API operation, written once as a :class:`~hookwire.client.calls.Call`.

Each function takes the operation's arguments and describes the request; the
clients expose it as a method of the same name and docstring that sends it
and returns what the call reads. Docstrings are therefore written for the
methods' callers.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, Final, TypeVar

import httpx

from hookwire.client.calls import Call, camel, iso_time, path, query
from hookwire.client.models import (
    ApiKey,
    Delivery,
    Event,
    EventAccepted,
    EventType,
    LogEntry,
    Page,
    PortalLink,
    Tenant,
    Webhook,
    parse,
    parse_page,
)

R = TypeVar("R")
REPLAYED_HEADER = "Idempotent-Replayed"


class Unset(enum.Enum):
    """The type of :data:`UNSET`."""

    UNSET = "UNSET"


# "Leave as it is" in an update, where None may mean "clear it".
UNSET: Final = Unset.UNSET


def _one(cls: type[R]) -> Callable[[httpx.Response], R]:
    def read(response: httpx.Response) -> R:
        return parse(cls, response.json())

    return read


def _page(cls: type[R]) -> Callable[[httpx.Response], Page[R]]:
    def read(response: httpx.Response) -> Page[R]:
        return parse_page(cls, response.json())

    return read


def _nothing(_response: httpx.Response) -> None:
    return None


def _accepted(response: httpx.Response) -> EventAccepted:
    accepted = parse(EventAccepted, response.json())
    replayed = response.headers.get(REPLAYED_HEADER, "").lower() == "true"
    return replace(accepted, replayed=replayed)


def _list(cls: type[R], segments: Sequence[str], **filters: object) -> Call[Page[R]]:
    return Call("GET", path(*segments), _page(cls), params=query(**filters))


def _changes(**fields: object) -> dict[str, object]:
    """The body of an update: the fields given, in the API's spelling."""
    return {camel(name): value for name, value in fields.items() if value is not UNSET}


def _event_names(events: Sequence[str]) -> list[str]:
    if isinstance(events, str):  # a str is a Sequence[str]: "a.b" would become its letters
        raise TypeError('events is a list of names, e.g. ["license.created"] or ["*"]')
    return list(events)


# --- event types (admin) -------------------------------------------------------------


def create_event_type(
    name: str, *, description: str = "", schema: Mapping[str, Any] | None = None
) -> Call[EventType]:
    """Add an event type to the catalogue; ``schema`` (JSON Schema) checks its events' data."""
    body: dict[str, object] = {"name": name, "description": description}
    if schema is not None:
        body["schema"] = dict(schema)
    return Call("POST", path("event-types"), _one(EventType), body=body)


def list_event_types(
    *, limit: int | None = None, cursor: str | None = None
) -> Call[Page[EventType]]:
    """One page of the catalogue, by name."""
    return _list(EventType, ["event-types"], limit=limit, cursor=cursor)


def get_event_type(name: str) -> Call[EventType]:
    """One event type."""
    return Call("GET", path("event-types", name), _one(EventType))


def update_event_type(
    name: str,
    *,
    description: str | Unset = UNSET,
    schema: Mapping[str, Any] | Unset | None = UNSET,
) -> Call[EventType]:
    """Change an event type's description or schema (``schema=None`` removes it)."""
    if isinstance(schema, Mapping):
        schema = dict(schema)
    body = _changes(description=description, schema=schema)
    return Call("PATCH", path("event-types", name), _one(EventType), body=body)


def delete_event_type(name: str) -> Call[None]:
    """Remove an event type; events already accepted keep their type name."""
    return Call("DELETE", path("event-types", name), _nothing)


# --- tenants and their API keys (admin) ------------------------------------------------


def create_tenant(name: str, *, id: str | None = None) -> Call[Tenant]:
    """Create a tenant; ``id`` is generated when omitted (an id already taken: Conflict)."""
    body: dict[str, object] = {"name": name}
    if id is not None:
        body["id"] = id
    return Call("POST", path("tenants"), _one(Tenant), body=body)


def list_tenants(*, limit: int | None = None, cursor: str | None = None) -> Call[Page[Tenant]]:
    """One page of tenants, in creation order."""
    return _list(Tenant, ["tenants"], limit=limit, cursor=cursor)


def get_tenant(tenant_id: str) -> Call[Tenant]:
    """One tenant."""
    return Call("GET", path("tenants", tenant_id), _one(Tenant))


def update_tenant(tenant_id: str, *, name: str) -> Call[Tenant]:
    """Rename a tenant."""
    return Call("PATCH", path("tenants", tenant_id), _one(Tenant), body={"name": name})


def delete_tenant(tenant_id: str) -> Call[None]:
    """Delete a tenant with its keys, webhooks, events and logs."""
    return Call("DELETE", path("tenants", tenant_id), _nothing)


def create_api_key(tenant_id: str, *, name: str | None = None) -> Call[ApiKey]:
    """A new key for the tenant; ``key`` holds it in this answer only, never again."""
    body: dict[str, object] = {} if name is None else {"name": name}
    return Call("POST", path("tenants", tenant_id, "api-keys"), _one(ApiKey), body=body)


def list_api_keys(
    tenant_id: str, *, limit: int | None = None, cursor: str | None = None
) -> Call[Page[ApiKey]]:
    """One page of the tenant's keys: name, prefix and last use, never the keys themselves."""
    segments = ["tenants", tenant_id, "api-keys"]
    return _list(ApiKey, segments, limit=limit, cursor=cursor)


def revoke_api_key(tenant_id: str, key_id: str) -> Call[None]:
    """Revoke a key at once: its next request is Unauthorized."""
    return Call("DELETE", path("tenants", tenant_id, "api-keys", key_id), _nothing)


def create_portal_link(tenant_id: str) -> Call[PortalLink]:
    """A single-use, short-lived dashboard sign-in URL for the tenant's logged-in customer."""
    return Call("POST", path("tenants", tenant_id, "portal-links"), _one(PortalLink), body={})


def end_portal_sessions(tenant_id: str) -> Call[None]:
    """End the tenant's portal sessions and void its unused links, at once."""
    return Call("DELETE", path("tenants", tenant_id, "portal-sessions"), _nothing)


# --- webhooks ----------------------------------------------------------------------------


def create_webhook(
    tenant_id: str,
    *,
    name: str,
    url: str,
    token: str | None = None,
    events: Sequence[str] | None = None,
    active: bool | None = None,
    description: str | None = None,
    headers: Mapping[str, str] | None = None,
    signature_scheme: str | None = None,
    max_concurrency: int | None = None,
    rate_limit: int | None = None,
    ordering: str | None = None,
    format: str | None = None,
) -> Call[Webhook]:
    """Register a webhook. What is None takes the server's default (``events``: all).

    The token is generated when omitted; the answer shows it in full.
    ``signature_scheme`` is ``"hookwire"`` or ``"standard"``, ``ordering``
    ``"none"`` or ``"fifo"``, ``format`` ``"hookwire"``, ``"slack"`` or ``"discord"``.
    """
    body = {
        camel(field): value
        for field, value in {
            "name": name,
            "url": url,
            "token": token,
            "events": None if events is None else _event_names(events),
            "active": active,
            "description": description,
            "headers": None if headers is None else dict(headers),
            "signature_scheme": signature_scheme,
            "max_concurrency": max_concurrency,
            "rate_limit": rate_limit,
            "ordering": ordering,
            "format": format,
        }.items()
        if value is not None
    }
    return Call("POST", path("tenants", tenant_id, "webhooks"), _one(Webhook), body=body)


def list_webhooks(
    tenant_id: str, *, limit: int | None = None, cursor: str | None = None
) -> Call[Page[Webhook]]:
    """One page of the tenant's webhooks, in creation order; tokens are masked."""
    segments = ["tenants", tenant_id, "webhooks"]
    return _list(Webhook, segments, limit=limit, cursor=cursor)


def get_webhook(tenant_id: str, webhook_id: str) -> Call[Webhook]:
    """One webhook, with its token."""
    return Call("GET", path("tenants", tenant_id, "webhooks", webhook_id), _one(Webhook))


def update_webhook(
    tenant_id: str,
    webhook_id: str,
    *,
    name: str | Unset = UNSET,
    url: str | Unset = UNSET,
    token: str | Unset = UNSET,
    events: Sequence[str] | Unset = UNSET,
    active: bool | Unset = UNSET,
    description: str | Unset = UNSET,
    headers: Mapping[str, str] | Unset = UNSET,
    signature_scheme: str | Unset = UNSET,
    max_concurrency: int | Unset = UNSET,
    rate_limit: int | Unset | None = UNSET,
    ordering: str | Unset = UNSET,
    format: str | Unset = UNSET,
) -> Call[Webhook]:
    """Change the fields given (``rate_limit=None`` removes the limit).

    ``active=True`` on a suspended webhook re-activates it.
    """
    body = _changes(
        name=name,
        url=url,
        token=token,
        events=events if isinstance(events, Unset) else _event_names(events),
        active=active,
        description=description,
        headers=headers if isinstance(headers, Unset) else dict(headers),
        signature_scheme=signature_scheme,
        max_concurrency=max_concurrency,
        rate_limit=rate_limit,
        ordering=ordering,
        format=format,
    )
    segments = ("tenants", tenant_id, "webhooks", webhook_id)
    return Call("PATCH", path(*segments), _one(Webhook), body=body)


def delete_webhook(tenant_id: str, webhook_id: str) -> Call[None]:
    """Delete a webhook with its deliveries and event log."""
    return Call("DELETE", path("tenants", tenant_id, "webhooks", webhook_id), _nothing)


def send_test_event(tenant_id: str, webhook_id: str) -> Call[EventAccepted]:
    """Send a ``webhook.test`` event to this webhook alone, whatever it subscribes to.

    Answered like :func:`send_event` (``deliveries`` is 1); ``get_event`` with
    its ``id`` shows the delivery.
    """
    segments = ("tenants", tenant_id, "webhooks", webhook_id, "test")
    return Call("POST", path(*segments), _accepted)


def rotate_webhook_token(tenant_id: str, webhook_id: str) -> Call[Webhook]:
    """A new token; the old one keeps signing beside it for the grace period."""
    segments = ("tenants", tenant_id, "webhooks", webhook_id, "rotate-token")
    return Call("POST", path(*segments), _one(Webhook))


def recover_webhook(tenant_id: str, webhook_id: str, since: datetime) -> Call[int]:
    """Resend every failed or skipped delivery since ``since``; returns how many."""

    def read(response: httpx.Response) -> int:
        body = response.json()
        count = body.get("deliveries") if isinstance(body, dict) else None
        if not isinstance(count, int):
            raise ValueError('"deliveries" must be a number')
        return count

    segments = ("tenants", tenant_id, "webhooks", webhook_id, "recover")
    return Call("POST", path(*segments), read, body={"since": iso_time("since", since)})


def list_webhook_logs(
    tenant_id: str,
    webhook_id: str,
    *,
    event: str | None = None,
    status_code: int | None = None,
    success: bool | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int | None = None,
    cursor: str | None = None,
) -> Call[Page[LogEntry]]:
    """One page of the webhook's event log, newest first: one entry per request.

    Filters: the event type, the answer's status code, success or failure, and
    the time range (``since`` included, ``until`` excluded; timezone-aware).
    """
    return _list(
        LogEntry,
        ["tenants", tenant_id, "webhooks", webhook_id, "logs"],
        event=event,
        status_code=status_code,
        success=success,
        since=since,
        until=until,
        limit=limit,
        cursor=cursor,
    )


# --- events and deliveries ------------------------------------------------------------


def send_event(
    tenant_id: str,
    event: str,
    data: Mapping[str, Any],
    *,
    id: str | None = None,
    idempotency_key: str | None = None,
) -> Call[EventAccepted]:
    """Trigger an event: stored with one delivery per matching webhook before this returns.

    Repeating an ``id`` or an ``idempotency_key`` returns the first event again
    (``replayed=True``) and delivers nothing new.
    """
    body: dict[str, object] = {"event": event, "data": dict(data)}
    if id is not None:
        body["id"] = id
    headers = {} if idempotency_key is None else {"Idempotency-Key": idempotency_key}
    return Call("POST", path("tenants", tenant_id, "events"), _accepted, body=body, headers=headers)


def list_events(
    tenant_id: str,
    *,
    event: str | None = None,
    limit: int | None = None,
    cursor: str | None = None,
) -> Call[Page[Event]]:
    """One page of the tenant's events, newest first, each with its deliveries."""
    segments = ["tenants", tenant_id, "events"]
    return _list(Event, segments, event=event, limit=limit, cursor=cursor)


def get_event(tenant_id: str, event_id: str) -> Call[Event]:
    """One event with its deliveries."""
    return Call("GET", path("tenants", tenant_id, "events", event_id), _one(Event))


def get_delivery(tenant_id: str, delivery_id: str) -> Call[Delivery]:
    """One delivery with every request made for it (``logs``, oldest first)."""
    return Call("GET", path("tenants", tenant_id, "deliveries", delivery_id), _one(Delivery))


def resend_delivery(tenant_id: str, delivery_id: str) -> Call[Delivery]:
    """Send this delivery again now, whatever its state."""
    segments = ("tenants", tenant_id, "deliveries", delivery_id, "resend")
    return Call("POST", path(*segments), _one(Delivery))
