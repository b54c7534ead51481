"""A typed Python client for the hookwire API, blocking or asyncio.

::

    from hookwire.client import Client, NotFound

    with Client("http://127.0.0.1:8080", admin_key) as hookwire:
        hookwire.create_event_type("license.created", description="A license was issued")
        tenant = hookwire.create_tenant("Acme", id="acme")
        webhook = hookwire.create_webhook(
            tenant.id, name="Billing", url="https://billing.example/hooks",
            events=["license.created"],
        )
        accepted = hookwire.send_event(
            tenant.id, "license.created", {"key": "K-1"}, idempotency_key="order-42"
        )
        for entry in hookwire.iter_webhook_logs(tenant.id, webhook.id, success=False):
            print(entry.sent_at, entry.status_code, entry.error)
        try:
            hookwire.get_webhook(tenant.id, "wh_gone")
        except NotFound as exc:
            print(exc.detail)

``AsyncClient`` has the same methods, awaited (``async with AsyncClient(...)``,
``async for ... in client.iter_events(...)``). Every answer outside 2xx
raises a :class:`HookwireError` of the class its status calls for.

Receivers check hookwire's signatures with :mod:`hookwire.signing`.
"""

from hookwire.client.async_client import AsyncClient
from hookwire.client.calls import DEFAULT_TIMEOUT_SECONDS, Call, with_json
from hookwire.client.endpoints import UNSET, Unset
from hookwire.client.errors import (
    Conflict,
    FieldError,
    Forbidden,
    HookwireError,
    Invalid,
    NotFound,
    Unauthorized,
    Unavailable,
    UnexpectedAnswer,
)
from hookwire.client.models import (
    ApiKey,
    Blocker,
    Delivery,
    Event,
    EventAccepted,
    EventType,
    LogEntry,
    Page,
    PortalLink,
    Tenant,
    Webhook,
)
from hookwire.client.sync_client import Client

__all__ = [
    "DEFAULT_TIMEOUT_SECONDS",
    "UNSET",
    "ApiKey",
    "AsyncClient",
    "Blocker",
    "Call",
    "Client",
    "Conflict",
    "Delivery",
    "Event",
    "EventAccepted",
    "EventType",
    "FieldError",
    "Forbidden",
    "HookwireError",
    "Invalid",
    "LogEntry",
    "NotFound",
    "Page",
    "PortalLink",
    "Tenant",
    "Unauthorized",
    "Unavailable",
    "UnexpectedAnswer",
    "Unset",
    "Webhook",
    "with_json",
]
