"""Rendering: the Jinja2 environment, page responses, redirects and error pages.

Every dashboard route uses :class:`DashboardRoute`, which turns the domain's
errors (:mod:`hookwire.errors`) into HTML pages (or, for htmx requests, into a
message in the page's flash area) and adds the security headers. Errors about
form fields are shown beside the fields instead (:mod:`hookwire.dashboard.forms`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from functools import cache
from http import HTTPStatus
from typing import Any
from urllib.parse import quote, urlencode

import jinja2
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from jinja2.runtime import Context
from starlette.responses import HTMLResponse, RedirectResponse, Response

from hookwire import __version__
from hookwire.dashboard.session import (
    CSRF_FIELD,
    CSRF_HEADER,
    PORTAL_ENDED_URL,
    TENANT_PARAM,
    CsrfRejected,
    SignInRequired,
    services_of,
    signin_url,
)
from hookwire.errors import HookwireError, InvalidCursor, NotFound, Unavailable, http_status
from hookwire.records import Page, Tenant

# A strict policy is possible because nothing is inline: scripts and styles
# are files under /static, and htmx is told not to inject its own styles.
CONTENT_SECURITY_POLICY_TEMPLATE = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors {ancestors}; base-uri 'none'; "
    "object-src 'none'"
)
CONTENT_SECURITY_POLICY = CONTENT_SECURITY_POLICY_TEMPLATE.format(ancestors="'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    # Pages hold secrets (webhook tokens) and per-session CSRF tokens.
    "Cache-Control": "no-store",
    # The same URL answers a whole page or, to htmx, a fragment of it.
    "Vary": "HX-Request, HX-Target",
}


@cache
def portal_security_headers(frame_ancestors: str) -> dict[str, str]:
    """The headers of a portal's pages: framed by the operator's origins, when it lists some.

    X-Frame-Options cannot name origins, so it is left out when the CSP's
    frame-ancestors (which browsers obey over it) lists them.
    """
    if not frame_ancestors:
        return SECURITY_HEADERS
    headers = {
        **SECURITY_HEADERS,
        "Content-Security-Policy": CONTENT_SECURITY_POLICY_TEMPLATE.format(
            ancestors=frame_ancestors
        ),
    }
    del headers["X-Frame-Options"]
    return headers


def security_headers(request: Request) -> dict[str, str]:
    """What every page gets; a portal's pages may be framed (``portal_frame_ancestors``)."""
    if getattr(request.state, "portal", False):
        return portal_security_headers(services_of(request).settings.portal_frame_ancestors)
    return SECURITY_HEADERS


def branding(request: Request) -> dict[str, Any]:
    """The name and colours a page shows: the operator's, on a portal's pages."""
    portal = bool(getattr(request.state, "portal", False))
    settings = services_of(request).settings
    return {
        "portal": portal,
        "product_name": (settings.portal_product_name if portal else "") or "hookwire",
        "accent_color": settings.portal_accent_color if portal else "",
    }


NOTICES = {
    "created": "Webhook created. Send a test event to see a delivery in its event log.",
    "updated": "Webhook saved.",
    "deleted": "Webhook deleted, with its deliveries and event log.",
    "rotated": "New token created. The previous token keeps signing during the grace period.",
    "reactivated": "Webhook re-activated: it receives new events again.",
    "test-sent": "Test event queued. Its delivery appears in the event log below.",
    "resent": "Delivery queued again. Its new attempt appears in the event log.",
    "recovered": (
        "{n} failed or skipped deliver{ies} queued again. Deliveries still retrying "
        "are not counted: they go out on their schedule."
    ),
    "triggered": "Event accepted; it goes to {n} webhook{s}.",
    "event-type-created": "Event type added to the catalogue.",
    "event-type-updated": "Event type saved.",
    "tenant-created": "Tenant created.",
    "key-revoked": "API key revoked: it no longer works, and its dashboard sessions are ended.",
}


def utc_iso(moment: datetime) -> str:
    """``2024-05-01T12:00:00.123Z``: what ``<time datetime>`` and the browser's Date read."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def utc_text(moment: datetime, precise: bool = False) -> str:
    """UTC for people (the title of every time); ``precise`` adds milliseconds."""
    text = moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    return (text[:-3] if precise else text[:-7]) + " UTC"


def pretty_json(text: str | bytes | None) -> str:
    """Indented JSON when ``text`` is JSON, else the text as it is."""
    if text is None:
        return ""
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except (ValueError, UnicodeDecodeError):
        return text.decode(errors="replace") if isinstance(text, bytes) else text


def events_summary(events: list[str], limit: int = 3) -> str:
    """A webhook's events for a table cell: "All events", or the first few names."""
    if "*" in events:
        return "All events"
    shown = ", ".join(events[:limit])
    return shown + (f" and {len(events) - limit} more" if len(events) > limit else "")


@cache
def environment() -> jinja2.Environment:
    """The template environment, built once: autoescape is on for every template."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("hookwire.dashboard", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["utc_iso"] = utc_iso
    env.filters["utc_text"] = utc_text
    env.filters["pretty_json"] = pretty_json
    env.filters["events_summary"] = events_summary
    env.globals["version"] = __version__
    env.globals["csrf_field"] = CSRF_FIELD
    env.globals["csrf_header"] = CSRF_HEADER
    env.globals["tenant_url"] = tenant_url
    env.globals["admin_url"] = _admin_url
    env.globals["with_query"] = with_query
    return env


def tenant_url(tenant_id: str, *parts: str) -> str:
    """``/t/<tenant>/<parts…>``, each part quoted: ids come from users (tenant and event ids)."""
    return "/".join(["/t", *(quote(p, safe="") for p in (tenant_id, *parts))])


def with_query(url: str, params: dict[str, str]) -> str:
    """``url`` with ``params`` added to its query (which it may already have)."""
    return url + ("&" if "?" in url else "?") + urlencode(params)


def with_tenant(url: str, tenant: Tenant | None) -> str:
    """``url`` (a page outside ``/t/<tenant>/``) keeping the admin's chosen tenant, if any."""
    return url if tenant is None else with_query(url, {TENANT_PARAM: tenant.id})


@jinja2.pass_context
def _admin_url(context: Context, url: str) -> str:
    """In templates: ``url`` keeping the tenant the page shows or was chosen (``with_tenant``)."""
    tenant = context.get("current_tenant")
    return with_tenant(url, tenant if isinstance(tenant, Tenant) else None)


def cursor_of(request: Request) -> str | None:
    """The page of a list the URL asks for (None: the first)."""
    return request.query_params.get("cursor") or None


def listing(name: str, page: Page[Any], cursor: str | None) -> dict[str, Any]:
    """A page of a list for a template: its items as ``name``, and what its paging links need."""
    return {name: page.items, "next_cursor": page.next_cursor, "paged": cursor is not None}


def is_htmx(request: Request) -> bool:
    """Whether htmx sent the request (it then wants a fragment, not a whole page)."""
    return request.headers.get("HX-Request") == "true"


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """A page (or fragment) from a template, with what every page needs in its context."""
    viewer = getattr(request.state, "viewer", None)
    notice = request.query_params.get("notice", "")
    count = request.query_params.get("n", "")
    values: dict[str, Any] = {
        "request": request,
        "viewer": viewer,
        "csrf_token": viewer.csrf_token if viewer else "",
        "current_tenant": getattr(request.state, "tenant", None),
        "tenant_choices": getattr(request.state, "tenant_choices", []),
        "notice": NOTICES.get(notice, "").format(
            n=count if count.isdigit() else "some",
            s="" if count == "1" else "s",
            ies="y" if count == "1" else "ies",
        ),
        "section": "",
        **branding(request),
    }
    values.update(context or {})
    html = environment().get_template(template).render(values)
    return HTMLResponse(html, status_code=status, headers=headers)


def redirect(request: Request, url: str) -> Response:
    """After a POST: 303 for a plain form, a client-side redirect for htmx."""
    if is_htmx(request):
        return Response(status_code=200, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


def error_page(request: Request, status: int, message: str) -> HTMLResponse:
    """A full error page, or for htmx a message placed in the page's flash area."""
    title = HTTPStatus(status).phrase
    if is_htmx(request):
        return render(
            request,
            "_flash_error.html",
            {"title": title, "message": message},
            status=status,
            headers={"HX-Retarget": "#flash", "HX-Reswap": "innerHTML"},
        )
    return render(
        request, "error.html", {"title": title, "status": status, "message": message}, status=status
    )


def _sign_in_again(request: Request, exc: SignInRequired) -> Response:
    # A portal's person has no key: they come back through the platform.
    url = PORTAL_ENDED_URL if exc.portal else signin_url(request, exc.reason)
    if is_htmx(request):
        return Response(status_code=200, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


def domain_error_page(request: Request, exc: HookwireError) -> Response:
    """The page that answers an error of the service layer, in a person's words."""
    status = http_status(exc)
    if status == HTTPStatus.INTERNAL_SERVER_ERROR:
        raise exc  # a storage failure: the app's error middleware answers and logs it
    message = str(exc)
    if isinstance(exc, NotFound):
        message = f"Not found: {exc}."
    elif isinstance(exc, InvalidCursor):
        message = "That page link is out of date. Start from the first page."
    elif isinstance(exc, Unavailable):
        message = (
            "The database is not answering right now, so nothing could be read or saved. "
            "Try again in a few seconds."
        )
    return error_page(request, status, message)


async def _handle(
    request: Request, call: Callable[[Request], Coroutine[Any, Any, Response]]
) -> Response:
    try:
        return await call(request)
    except SignInRequired as exc:
        return _sign_in_again(request, exc)
    except CsrfRejected:
        return error_page(
            request,
            403,
            "This form was not sent from this dashboard session (its security token is "
            "missing or out of date). Reload the page and try again.",
        )
    except HookwireError as exc:
        return domain_error_page(request, exc)
    except RequestValidationError:
        return error_page(request, 422, "The address of this page is not valid.")


class DashboardRoute(APIRoute):
    """A route whose errors are HTML pages and whose answers carry security headers."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            response = await _handle(request, handler)
            for name, value in security_headers(request).items():
                response.headers.setdefault(name, value)
            return response

        return handle
