"""The Events section: recent events with their deliveries, and a form to trigger one."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.responses import Response

from hookwire.api.models import EventCreate
from hookwire.api.problems import Problem
from hookwire.dashboard.forms import field_errors, json_object, problem_errors, text
from hookwire.dashboard.lookups import all_event_types, poll_seconds, webhook_names
from hookwire.dashboard.render import DashboardRoute, is_htmx, redirect, render, tenant_url
from hookwire.dashboard.session import TenantViewDep, settings_of, storage_of
from hookwire.service import trigger_event

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)
EVENTS_PAGE_SIZE = 25
DEFAULT_DATA = "{\n  \n}"


async def _events_context(request: Request, tenant_id: str) -> dict[str, Any]:
    storage = storage_of(request)
    cursor = request.query_params.get("cursor") or None
    event_type = request.query_params.get("event") or None
    page = await storage.list_events(tenant_id, EVENTS_PAGE_SIZE, cursor, event_type)
    pending = [d for e in page.items for d in e.deliveries if d.state == "pending"]
    page_url = tenant_url(tenant_id, "events")
    filters = {"event": event_type} if event_type else {}
    return {
        "events": page.items,
        "names": await webhook_names(storage, tenant_id),
        "page_url": page_url,
        "self_url": page_url + ("?" + urlencode({**filters, "cursor": cursor}) if cursor else ""),
        "first_url": page_url + ("?" + urlencode(filters) if filters else "") if cursor else "",
        "next_url": page_url + "?" + urlencode({**filters, "cursor": page.next_cursor})
        if page.next_cursor
        else "",
        "poll_seconds": poll_seconds(pending, settings_of(request).lease_seconds)
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
    catalogue = await all_event_types(storage_of(request))
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
        body = EventCreate.model_validate({"event": values["event"], "data": data})
        event, _ = await trigger_event(storage_of(request), tv.id, body.event, body.data)
    except ValidationError as exc:
        errors = field_errors(exc)
        return await _events_page(request, tv.id, values=values, errors=errors, status=422)
    except Problem as exc:
        errors = problem_errors(exc, "data")
        return await _events_page(request, tv.id, values=values, errors=errors, status=422)
    count = sum(1 for d in event.deliveries if d.state != "skipped")
    query = urlencode({"notice": "triggered", "n": count})
    return redirect(request, tenant_url(tv.id, "events") + "?" + query)
