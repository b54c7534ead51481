"""Signing in and out, and the start page."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from hookwire.dashboard.forms import text
from hookwire.dashboard.render import DashboardRoute, error_page, render, tenant_url
from hookwire.dashboard.session import (
    CSRF_FIELD,
    PORTAL_ENDED_URL,
    SIGNIN_COOKIE,
    SIGNIN_FORM_MAX_AGE_SECONDS,
    SIGNIN_REASONS,
    TENANT_PARAM,
    ViewerDep,
    check_csrf,
    end_session,
    safe_next,
    services_of,
    set_cookie,
    start_session,
)
from hookwire.service.sessions import new_csrf_token

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)


def home_of(viewer_is_admin: bool, tenant_id: str | None) -> str:
    """Where a person lands: the admin picks a tenant, a tenant sees its webhooks."""
    return "/tenants" if viewer_is_admin or tenant_id is None else tenant_url(tenant_id, "webhooks")


@router.get("/")
async def home(viewer: ViewerDep) -> Response:
    """The start page: wherever this key's work is."""
    principal = viewer.principal
    return RedirectResponse(home_of(principal.is_admin, principal.tenant_id), status_code=303)


def _signin_page(
    request: Request, *, next_url: str, error: str = "", status: int = 200
) -> Response:
    # The sign-in form has no session yet, so its CSRF token is double-submitted:
    # once in a cookie, which SameSite=Lax keeps off cross-site POSTs, once in the form.
    token = new_csrf_token()
    reason = SIGNIN_REASONS.get(request.query_params.get("reason", ""), "")
    response = render(
        request,
        "signin.html",
        {"signin_token": token, "next_url": next_url, "error": error, "reason": reason},
        status=status,
    )
    set_cookie(response, request, SIGNIN_COOKIE, token, SIGNIN_FORM_MAX_AGE_SECONDS, "/signin")
    return response


@router.get("/signin")
async def signin_form(request: Request) -> Response:
    """The sign-in form: one field, an API key."""
    return _signin_page(request, next_url=safe_next(request.query_params.get("next")))


@router.post("/signin")
async def signin(request: Request) -> Response:
    """Check the key exactly as the API does, then start a session."""
    form = await request.form()
    check_csrf(request.cookies.get(SIGNIN_COOKIE, ""), text(form, CSRF_FIELD))
    next_url = safe_next(text(form, "next"))
    key = text(form, "api_key").strip()
    if not key:
        return _signin_page(request, next_url=next_url, error="Enter an API key.", status=422)
    principal = await services_of(request).auth.authenticate(key)
    if principal is None:
        return _signin_page(
            request,
            next_url=next_url,
            error="This key is not valid: it may be mistyped, revoked, or for another server.",
            status=401,
        )
    target = next_url if next_url != "/" else home_of(principal.is_admin, principal.tenant_id)
    response = RedirectResponse(target, status_code=303)
    await start_session(response, request, principal)
    response.delete_cookie(SIGNIN_COOKIE, path="/signin")
    return response


@router.post("/signout")
async def signout(request: Request, viewer: ViewerDep) -> Response:
    """End the session (the CSRF check keeps other sites from signing people out)."""
    # A portal's person has no key to sign in with again: they come back through the platform.
    target = PORTAL_ENDED_URL if viewer.portal else "/signin?reason=signed-out"
    response = RedirectResponse(target, status_code=303)
    await end_session(response, request)
    return response


@router.get("/t")
async def pick_tenant(request: Request, viewer: ViewerDep) -> Response:
    """The tenant picker's target: that tenant's webhooks."""
    tenant_id = request.query_params.get(TENANT_PARAM, "")
    if not tenant_id:
        return error_page(request, 422, "Choose a tenant.")
    await services_of(request).auth.visible_tenant(viewer.principal, tenant_id)
    return RedirectResponse(tenant_url(tenant_id, "webhooks"), status_code=303)
