"""``hookwire demo``: a tenant, a webhook to a local listener and a few licensing events.

It talks to a running hookwire over its public API only, so it shows a new
user the same calls their platform would make.
"""

from __future__ import annotations

import asyncio
import time
from contextlib import suppress
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from hookwire.client import (
    UNSET,
    AsyncClient,
    Conflict,
    HookwireError,
    Unauthorized,
    Webhook,
    endpoints,
    with_json,
)

DEMO_EVENT_TYPES = {
    "license.created": "A license was issued.",
    "license.updated": "A license's terms changed.",
    "license.renewed": "A license was renewed for another period.",
    "license.expired": "A license reached its end date.",
    "license.deleted": "A license was deleted.",
    "activation.created": "A device activated a license.",
    "activation.deleted": "A device's activation was removed.",
}
DEMO_EVENTS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("license.created", {"key": "DEMO-1234-ABCD", "product": "Pro", "seats": 5}),
    ("activation.created", {"key": "DEMO-1234-ABCD", "machine": "laptop-01"}),
    ("license.renewed", {"key": "DEMO-1234-ABCD", "expiresAt": "2031-01-01T00:00:00Z"}),
)
REQUEST_TIMEOUT_SECONDS = 10.0
HTTP_DEFAULT_PORT = 80
# How long the demo waits to show the deliveries' outcomes before pointing at the log.
WAIT_FOR_LOG_SECONDS = 10.0
LOG_POLL_SECONDS = 0.25
# The demo's own tenant: a second run finds it (and its webhook) instead of
# adding another tenant each time.
DEMO_TENANT_ID = "demo"
DEMO_TENANT_NAME = "Demo Licensing Customer"


class DemoError(Exception):
    """Something the user has to fix (service unreachable, key refused…)."""


@dataclass(frozen=True)
class DemoResult:
    tenant_id: str
    webhook_id: str
    receiver_url: str
    token: str
    event_ids: list[str]
    log: list[dict[str, Any]]


async def run_demo(
    base_url: str, admin_key: str, receiver_url: str, token: str | None
) -> DemoResult:
    """Create the demo's catalogue, tenant and webhook, trigger events, collect the log."""
    try:
        async with AsyncClient(base_url, admin_key, timeout=REQUEST_TIMEOUT_SECONDS) as api:
            return await _run(api, receiver_url, token)
    except httpx.ConnectError:
        raise DemoError(
            f"cannot reach hookwire at {base_url.rstrip('/')}: is `hookwire serve` running?"
        ) from None
    except httpx.TimeoutException:
        raise DemoError(
            f"hookwire at {base_url.rstrip('/')} did not answer within "
            f"{REQUEST_TIMEOUT_SECONDS:g} seconds"
        ) from None
    except httpx.TransportError as exc:
        raise DemoError(f"cannot talk to hookwire at {base_url.rstrip('/')}: {exc}") from None
    except Unauthorized:
        raise DemoError(
            "the admin key was refused: pass --admin-key or set HOOKWIRE_ADMIN_KEY"
        ) from None
    except HookwireError as exc:
        raise DemoError(f"{exc.request} answered {exc.status}: {exc.detail}") from None


async def _run(api: AsyncClient, receiver_url: str, token: str | None) -> DemoResult:
    for name, description in DEMO_EVENT_TYPES.items():
        with suppress(Conflict):  # already there from an earlier run
            await api.create_event_type(name, description=description)
    with suppress(Conflict):  # an earlier run made it
        await api.create_tenant(DEMO_TENANT_NAME, id=DEMO_TENANT_ID)
    webhook = await _demo_webhook(api, receiver_url, token)
    event_ids = []
    for event_type, data in DEMO_EVENTS:
        accepted = await api.send_event(DEMO_TENANT_ID, event_type, data)
        event_ids.append(accepted.id)
    log = await _wait_for_log(api, webhook.id, set(event_ids))
    return DemoResult(DEMO_TENANT_ID, webhook.id, receiver_url, webhook.token, event_ids, log)


async def _demo_webhook(api: AsyncClient, receiver_url: str, token: str | None) -> Webhook:
    """The demo tenant's webhook to ``receiver_url``: the one an earlier run made, or a new one.

    A token given this time replaces the old one, so the listener started with
    it verifies what it receives.
    """
    events = list(DEMO_EVENT_TYPES)
    async for hook in api.iter_webhooks(DEMO_TENANT_ID):
        if hook.url == receiver_url:
            return await api.update_webhook(
                DEMO_TENANT_ID,
                hook.id,
                events=events,
                active=True,
                token=token or UNSET,
            )
    return await api.create_webhook(
        DEMO_TENANT_ID,
        name="Local listener",
        url=receiver_url,
        token=token or None,
        events=events,
        active=True,
    )


async def _wait_for_log(
    api: AsyncClient, webhook_id: str, event_ids: set[str]
) -> list[dict[str, Any]]:
    """This run's log entries, as the API shows them, once every event has one (or at the
    end of the wait, what there is)."""
    deadline = time.monotonic() + WAIT_FOR_LOG_SECONDS
    call = with_json(endpoints.list_webhook_logs(DEMO_TENANT_ID, webhook_id))
    while True:
        page: list[dict[str, Any]] = (await api.send(call))[1]["data"]
        entries = [e for e in page if e["eventId"] in event_ids]
        if {e["eventId"] for e in entries} >= event_ids:
            return entries
        if time.monotonic() >= deadline:
            return entries
        await asyncio.sleep(LOG_POLL_SECONDS)  # polling a live server the user started


def describe(result: DemoResult, base_url: str) -> str:
    """What the demo did and where to look, for a person."""
    base = base_url.rstrip("/")
    receiver_port = urlsplit(result.receiver_url).port or HTTP_DEFAULT_PORT
    logs_path = f"/v1/tenants/{result.tenant_id}/webhooks/{result.webhook_id}/logs"
    lines = [
        f"tenant   {result.tenant_id}",
        f"webhook  {result.webhook_id} (token {result.token})",
        f"events   {len(result.event_ids)} triggered",
        "",
    ]
    for entry in sorted(result.log, key=lambda e: e["sentAt"] or ""):
        outcome = entry["statusCode"] or entry["error"]
        lines.append(f"  {entry['event']:<20} attempt {entry['attempt']}  ->  {outcome}")
    if not result.log:
        lines.append("  no delivery logged yet: is the worker running (`hookwire serve`)?")
    if any("address not allowed" in (e["error"] or "") for e in result.log):
        lines += [
            "",
            "  hookwire refuses private addresses by default (a safety measure for a public",
            "  service); for this local demo start it with HOOKWIRE_ALLOW_PRIVATE_NETWORKS=true.",
        ]
    lines += [
        "",
        "See them in the event log:",
        f"  dashboard  {base}/  (sign in with the admin key, open the webhook)",
        f"  API        curl -H 'Authorization: Bearer <admin key>' {base}{logs_path}",
        f"  your receiver: hookwire listen --port {receiver_port} --token {result.token}",
    ]
    return "\n".join(lines)
