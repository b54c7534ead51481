"""The Events section: recent events with their deliveries, and a form to trigger one."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.responses import Response

from hookwire.dashboard.forms import form_errors, json_object, text
from hookwire.dashboard.lookups import poll_seconds
from hookwire.dashboard.render import (
    DashboardRoute,
    cursor_of,
    is_htmx,
    redirect,
    render,
    tenant_url,
)
from hookwire.dashboard.session import TenantViewDep, services_of
from hookwire.errors import Invalid
from hookwire.payload import payload_data
from hookwire.service.inputs import EventCreate, parse_input

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)
EVENTS_PAGE_SIZE = 25
DEFAULT_DATA = "{\n  \n}"


async def _events_context(request: Request, tenant_id: str) -> dict[str, Any]:
    services = services_of(request)
    cursor = cursor_of(request)
    event_type = request.query_params.get("event") or None
    page = await services.events.list(tenant_id, EVENTS_PAGE_SIZE, cursor, event_type)
    pending = [d for e in page.items for d in e.deliveries if d.state == "pending"]
    page_url = tenant_url(tenant_id, "events")
    filters = {"event": event_type} if event_type else {}
    return {
        "events": page.items,
        # Each event's data as sent in its body, for the row's Payload disclosure.
        "payloads": {
            e.id: json.dumps(payload_data(e.payload), indent=2, ensure_ascii=False)
            for e in page.items
        },
        "names": await services.webhooks.names(tenant_id),
        "page_url": page_url,
        "self_url": page_url + ("?" + urlencode({**filters, "cursor": cursor}) if cursor else ""),
        "first_url": page_url + ("?" + urlencode(filters) if filters else "") if cursor else "",
        "next_url": page_url + "?" + urlencode({**filters, "cursor": page.next_cursor})
        if page.next_cursor
        else "",
        "poll_seconds": poll_seconds(pending, services.settings.lease_seconds)
        if cursor is None
        else 0,
        "event_filter": event_type or "",
    }


async def _events_page(
    request: Request,
    tenant_id: str,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    catalogue = await services_of(request).catalog.all()
    context = {
        "section": "events",
        "table": await _events_context(request, tenant_id),
        "catalogue": catalogue,
        "values": values or {"event": "", "data": DEFAULT_DATA},
        "errors": errors or {},
        "action": tenant_url(tenant_id, "events"),
    }
    return render(request, "events.html", context, status=status)


@router.get("/t/{tenant_id}/events")
async def events(request: Request, tv: TenantViewDep) -> Response:
    """Recent events, newest first, each with its deliveries' states."""
    if is_htmx(request) and request.headers.get("HX-Target") == "events-table":
        context = {"table": await _events_context(request, tv.id)}
        return render(request, "_events_table.html", context)
    return await _events_page(request, tv.id)


@router.post("/t/{tenant_id}/events")
async def trigger(request: Request, tv: TenantViewDep) -> Response:
    """Trigger an event of a catalogue type with JSON data, as ``POST …/events`` does."""
    form = await request.form()
    values = {"event": text(form, "event").strip(), "data": text(form, "data")}
    try:
        data = json_object(values["data"], "data")
        new = parse_input(EventCreate, {"event": values["event"], "data": data})
        accepted = await services_of(request).events.trigger(tv.id, new)
    except Invalid as exc:
        errors = form_errors(exc, "data")
        return await _events_page(request, tv.id, values=values, errors=errors, status=422)
    query = urlencode({"notice": "triggered", "n": accepted.deliveries})
    return redirect(request, tenant_url(tv.id, "events") + "?" + query)
