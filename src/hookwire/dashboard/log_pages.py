"""The webhook page with its event log, a delivery's detail, resend and recover."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.datastructures import QueryParams
from starlette.responses import Response

from hookwire.dashboard.forms import form_errors, parse_moment, text
from hookwire.dashboard.lookups import event_type_names, poll_seconds
from hookwire.dashboard.render import (
    DashboardRoute,
    is_htmx,
    pretty_json,
    redirect,
    render,
    tenant_url,
)
from hookwire.dashboard.session import TenantView, TenantViewDep, services_of
from hookwire.errors import Invalid
from hookwire.formats import chat_message
from hookwire.records import Webhook
from hookwire.service.deliveries import LogFilter

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)
LOG_PAGE_SIZE = 25
DEFAULT_RECOVER_WINDOW = timedelta(hours=24)
RESULTS = {"succeeded": True, "failed": False}


@dataclass(frozen=True, slots=True)
class LogFilters:
    """The event log's filters and page, as they travel in the URL."""

    result: str = ""
    event: str = ""
    since: datetime | None = None
    until: datetime | None = None
    cursor: str | None = None

    @classmethod
    def from_query(cls, query: QueryParams) -> LogFilters:
        result = query.get("result", "")
        return cls(
            result=result if result in RESULTS else "",
            event=query.get("event", "").strip(),
            since=parse_moment(query.get("since", ""), query.get("since_local", ""), "since"),
            until=parse_moment(query.get("until", ""), query.get("until_local", ""), "until"),
            cursor=query.get("cursor") or None,
        )

    @property
    def active(self) -> bool:
        return bool(self.result or self.event or self.since or self.until)

    def query(self) -> str:
        pairs = {
            "result": self.result,
            "event": self.event,
            "since": _iso(self.since),
            "until": _iso(self.until),
            "cursor": self.cursor or "",
        }
        encoded = urlencode({k: v for k, v in pairs.items() if v})
        return f"?{encoded}" if encoded else ""


def _iso(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else ""


async def log_context(
    request: Request, tenant_id: str, webhook: Webhook, filters: LogFilters
) -> dict[str, Any]:
    """What ``_log.html`` shows: a page of log entries, paging links, and polling."""
    services = services_of(request)
    wanted = LogFilter(
        event_type=filters.event or None,
        success=RESULTS.get(filters.result),
        since=filters.since,
        until=filters.until,
    )
    page = await services.deliveries.webhook_log(
        tenant_id, webhook.id, wanted, LOG_PAGE_SIZE, filters.cursor
    )
    pending = await services.deliveries.pending(tenant_id, webhook.id)
    # A delivery already tried is a retry; its next_attempt_at is the retry's
    # time (or, while it is being sent, the end of its lease).
    retrying = [d for d in pending if d.attempts > 0]
    retry_times = [d.next_attempt_at for d in retrying if d.next_attempt_at is not None]
    page_url = tenant_url(tenant_id, "webhooks", webhook.id)
    return {
        "entries": page.items,
        "filters": filters,
        "page_url": page_url,
        "self_url": page_url + filters.query(),
        "first_url": page_url + replace(filters, cursor=None).query() if filters.cursor else "",
        "next_url": page_url + replace(filters, cursor=page.next_cursor).query()
        if page.next_cursor
        else "",
        "pending": pending,
        "retrying": retrying,
        "next_retry_at": min(retry_times) if retry_times else None,
        "waiting": [d for d in pending if d.attempts == 0],
        # A FIFO webhook's failing head, which the others wait behind.
        "blocked_by": await services.webhooks.blocker(webhook) if pending else None,
        "oob": False,
        # Only the newest page refreshes: older pages do not change.
        "poll_seconds": poll_seconds(pending, services.settings.lease_seconds)
        if filters.cursor is None
        else 0,
        "delivery_base": tenant_url(tenant_id, "deliveries"),
    }


async def render_webhook_page(
    request: Request,
    tv: TenantView,
    webhook: Webhook,
    *,
    edit_values: dict[str, Any] | None = None,
    edit_errors: dict[str, str] | None = None,
    recover_error: str = "",
    status: int = 200,
) -> Response:
    """The webhook's settings, actions and event log (the edit form open when it failed)."""
    filters = LogFilters.from_query(request.query_params)
    log = await log_context(request, tv.id, webhook, filters)
    catalogue = await services_of(request).catalog.all()
    base = tenant_url(tv.id, "webhooks", webhook.id)
    context = {
        "section": "webhooks",
        "webhook": webhook,
        "base": base,
        "log": log,
        "event_names": event_type_names(catalogue),
        "recover_since": datetime.now(UTC) - DEFAULT_RECOVER_WINDOW,
        "recover_error": recover_error,
        "open_edit": edit_values is not None,
        "form": {
            "id": "edit-webhook-form",
            "action": base + "/edit",
            "token_url": "",
            "values": edit_values
            or {
                "name": webhook.name,
                "url": webhook.url,
                "events": webhook.events,
                "active": webhook.active,
                "signature_scheme": webhook.signature_scheme,
                "format": webhook.format,
                "ordering": webhook.ordering,
            },
            "errors": edit_errors or {},
            "catalogue": catalogue,
            "creating": False,
        },
    }
    return render(request, "webhook.html", context, status=status)


@router.get("/t/{tenant_id}/webhooks/{webhook_id}")
async def webhook_page(webhook_id: str, request: Request, tv: TenantViewDep) -> Response:
    """One webhook; to htmx (filters, paging, polling) only its event log."""
    webhook = await services_of(request).webhooks.get(tv.id, webhook_id)
    if is_htmx(request) and request.headers.get("HX-Target") == "log":
        filters = LogFilters.from_query(request.query_params)
        log = await log_context(request, tv.id, webhook, filters)
        # The header's health and last delivery come along, swapped out of band.
        context = {"log": {**log, "oob": True}, "webhook": webhook}
        return render(request, "_log.html", context)
    return await render_webhook_page(request, tv, webhook)


@router.get("/t/{tenant_id}/deliveries/{delivery_id}")
async def delivery_page(delivery_id: str, request: Request, tv: TenantViewDep) -> Response:
    """A delivery: the chosen attempt's request and response, and every attempt as a timeline."""
    services = services_of(request)
    found = await services.deliveries.get(tv.id, delivery_id)
    delivery, attempts = found.delivery, found.logs
    webhook = await services.webhooks.get(tv.id, delivery.webhook_id)
    event = await services.events.get(tv.id, delivery.event_id)
    wanted = request.query_params.get("attempt")
    sent = [a for a in attempts if a.id == wanted] or attempts[-1:]
    # What the chosen attempt sent: a chat message for a Slack or Discord webhook.
    sent_body = sent[0].request_body if sent else None
    context = {
        "section": "webhooks",
        "delivery": delivery,
        "attempts": attempts,
        "selected": sent[0] if sent else None,
        "webhook": webhook,
        "event": event,
        "body": pretty_json(sent_body or event.payload),
        "chat": chat_message(sent_body.encode()) if sent_body else None,
        "delivery_url": tenant_url(tv.id, "deliveries", delivery.id),
        "webhook_url": tenant_url(tv.id, "webhooks", webhook.id),
    }
    template = "_delivery.html" if is_htmx(request) else "delivery.html"
    return render(request, template, context)


@router.post("/t/{tenant_id}/deliveries/{delivery_id}/resend")
async def resend_delivery(delivery_id: str, request: Request, tv: TenantViewDep) -> Response:
    """Send the delivery again now; the webhook page then refreshes until it is done."""
    delivery = await services_of(request).deliveries.resend(tv.id, delivery_id)
    url = tenant_url(tv.id, "webhooks", delivery.webhook_id) + "?notice=resent"
    return redirect(request, url)


@router.post("/t/{tenant_id}/webhooks/{webhook_id}/recover")
async def recover_webhook(webhook_id: str, request: Request, tv: TenantViewDep) -> Response:
    """Resend every failed or skipped delivery of the webhook since the time given."""
    services = services_of(request)
    webhook = await services.webhooks.get(tv.id, webhook_id)
    form = await request.form()
    try:
        since = parse_moment(text(form, "since"), text(form, "since_local"), "since")
        if since is None:
            raise Invalid.one("since", "choose the time to recover from")
        count = await services.deliveries.recover(tv.id, webhook_id, since)
    except Invalid as exc:
        message = form_errors(exc, "since").get("since", exc.detail)
        return await render_webhook_page(request, tv, webhook, recover_error=message, status=422)
    query = urlencode({"notice": "recovered", "n": count})
    return redirect(request, tenant_url(tv.id, "webhooks", webhook_id) + "?" + query)
