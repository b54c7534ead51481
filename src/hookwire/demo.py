"""``hookwire demo``: a tenant, a webhook to a local listener and a few licensing events.

It talks to a running hookwire over its public API only, so it shows a new
user the same calls their platform would make.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp

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


class _Api:
    def __init__(self, session: aiohttp.ClientSession, base_url: str) -> None:
        self.session = session
        self.base_url = base_url.rstrip("/")

    async def call(
        self, method: str, path: str, body: Any = None, ok: tuple[int, ...] = (200, 201, 202)
    ) -> Any:
        url = self.base_url + path
        try:
            async with self.session.request(method, url, json=body) as response:
                payload = await response.json(content_type=None)
                status = response.status
        except aiohttp.ClientConnectionError:
            raise DemoError(
                f"cannot reach hookwire at {self.base_url}: is `hookwire serve` running?"
            ) from None
        if status == 401:
            raise DemoError("the admin key was refused: pass --admin-key or set HOOKWIRE_ADMIN_KEY")
        if status not in ok:
            detail = payload.get("detail") if isinstance(payload, dict) else payload
            raise DemoError(f"{method} {path} answered {status}: {detail}")
        return payload


async def run_demo(
    base_url: str, admin_key: str, receiver_url: str, token: str | None
) -> DemoResult:
    """Create the demo's catalogue, tenant and webhook, trigger events, collect the log."""
    headers = {"Authorization": f"Bearer {admin_key}"}
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_SECONDS)
    async with aiohttp.ClientSession(headers=headers, timeout=timeout) as session:
        api = _Api(session, base_url)
        for name, description in DEMO_EVENT_TYPES.items():
            await api.call(
                "POST",
                "/v1/event-types",
                {"name": name, "description": description},
                ok=(201, 409),  # already there from an earlier run
            )
        await api.call(
            "POST",
            "/v1/tenants",
            {"id": DEMO_TENANT_ID, "name": DEMO_TENANT_NAME},
            ok=(201, 409),  # an earlier run made it
        )
        tenant = {"id": DEMO_TENANT_ID}
        tenant_path = f"/v1/tenants/{DEMO_TENANT_ID}"
        webhook = await _demo_webhook(api, tenant_path, receiver_url, token)
        event_ids = []
        for event_type, data in DEMO_EVENTS:
            event = await api.call(
                "POST", f"{tenant_path}/events", {"event": event_type, "data": data}
            )
            event_ids.append(event["id"])
        log = await _wait_for_log(
            api, f"{tenant_path}/webhooks/{webhook['id']}/logs", set(event_ids)
        )
    return DemoResult(tenant["id"], webhook["id"], receiver_url, webhook["token"], event_ids, log)


async def _demo_webhook(
    api: _Api, tenant_path: str, receiver_url: str, token: str | None
) -> dict[str, Any]:
    """The demo tenant's webhook to ``receiver_url``: the one an earlier run made, or a new one.

    A token given this time replaces the old one, so the listener started with
    it verifies what it receives.
    """
    body: dict[str, Any] = {"events": list(DEMO_EVENT_TYPES), "active": True}
    if token:
        body["token"] = token
    hooks: list[dict[str, Any]] = (await api.call("GET", f"{tenant_path}/webhooks"))["data"]
    for hook in hooks:
        if hook["url"] == receiver_url:
            updated: dict[str, Any] = await api.call(
                "PATCH", f"{tenant_path}/webhooks/{hook['id']}", body
            )
            return updated
    body.update(name="Local listener", url=receiver_url)
    created: dict[str, Any] = await api.call("POST", f"{tenant_path}/webhooks", body)
    return created


async def _wait_for_log(api: _Api, path: str, event_ids: set[str]) -> list[dict[str, Any]]:
    """This run's log entries once every event has one, or what there is after the wait."""
    deadline = time.monotonic() + WAIT_FOR_LOG_SECONDS
    while True:
        page: list[dict[str, Any]] = (await api.call("GET", path))["data"]
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
