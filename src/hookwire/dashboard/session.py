"""The dashboard's side of sessions: the cookie, CSRF tokens, and who is looking.

Sessions themselves live on the server (:mod:`hookwire.service.sessions`): the
cookie holds only a random session id, so signing out, revoking the key or
deleting the tenant ends a session wherever its cookie was copied to.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote, urlsplit

from fastapi import Depends, Request
from starlette.responses import Response

from hookwire.crypto import same_secret
from hookwire.errors import NotFound
from hookwire.records import Tenant
from hookwire.service import Services
from hookwire.service.auth import Principal
from hookwire.service.inputs import MAX_PAGE_LIMIT
from hookwire.service.sessions import SESSION_MAX_AGE_SECONDS, SessionEnded

SESSION_COOKIE = "hookwire_session"
SIGNIN_COOKIE = "hookwire_signin"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
# The tenant an admin chose, in the query of the pages outside /t/<tenant>/ (and the picker's).
TENANT_PARAM = "tenant"
SIGNIN_FORM_MAX_AGE_SECONDS = 3600
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class SignInRequired(Exception):
    """No valid session: the person must sign in (again).

    ``reason`` is a key of ``SIGNIN_REASONS``: it travels in the sign-in URL,
    so only fixed texts can ever be shown there.
    """

    def __init__(self, reason: str | None = None) -> None:
        super().__init__(reason or "sign in required")
        self.reason = reason


SIGNIN_REASONS = {
    "expired": "Your session has ended. Sign in again.",
    "revoked": "That API key is no longer valid. Sign in with a current key.",
    "signed-out": "You are signed out.",
}


class CsrfRejected(Exception):
    """An unsafe request without this session's CSRF token."""


@dataclass(frozen=True, slots=True)
class Viewer:
    """The signed-in person: who they are and their session's CSRF token."""

    principal: Principal
    csrf_token: str


@dataclass(frozen=True, slots=True)
class TenantView:
    """A tenant page being looked at, by someone allowed to see it."""

    viewer: Viewer
    tenant: Tenant

    @property
    def id(self) -> str:
        return self.tenant.id


def set_cookie(
    response: Response, request: Request, name: str, value: str, max_age: int, path: str = "/"
) -> None:
    """HttpOnly and SameSite=Lax always; Secure whenever the page came over https."""
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=path,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )


async def start_session(response: Response, request: Request, principal: Principal) -> None:
    """Sign in: a new session, its id in the cookie (a session the browser still had ends)."""
    services = services_of(request)
    session_id = await services.sessions.start(principal, request.cookies.get(SESSION_COOKIE))
    set_cookie(response, request, SESSION_COOKIE, session_id, SESSION_MAX_AGE_SECONDS)


async def end_session(response: Response, request: Request) -> None:
    """Sign out: the session ends on the server, so no copy of the cookie works any more."""
    session_id = request.cookies.get(SESSION_COOKIE)
    if session_id:
        await services_of(request).sessions.end(session_id)
    response.delete_cookie(
        SESSION_COOKIE,
        path="/",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )


def services_of(request: Request) -> Services:
    """The app's services (the same ones the API calls)."""
    services: Services = request.app.state.services
    return services


async def submitted_csrf_token(request: Request) -> str:
    """The token an unsafe request carries: the htmx header, else the form field."""
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        value = (await request.form()).get(CSRF_FIELD)
        return value if isinstance(value, str) else ""
    return ""


def check_csrf(expected: str, submitted: str) -> None:
    """Raise :class:`CsrfRejected` unless ``submitted`` is the expected token."""
    if not submitted or not same_secret(submitted, expected):
        raise CsrfRejected()


async def current_viewer(request: Request) -> Viewer:
    """The signed-in person; every unsafe request must also carry the session's CSRF token."""
    session_id = request.cookies.get(SESSION_COOKIE)
    if not session_id:
        raise SignInRequired()
    services = services_of(request)
    try:
        signed_in = await services.sessions.resume(session_id)
    except SessionEnded as exc:
        raise SignInRequired(exc.reason) from None
    viewer = Viewer(principal=signed_in.principal, csrf_token=signed_in.csrf_token)
    # Kept for rendering (error pages too): the navigation shows who is signed in.
    request.state.viewer = viewer
    if viewer.principal.is_admin:
        request.state.tenant_choices = (await services.tenants.list(MAX_PAGE_LIMIT)).items
    if request.method in UNSAFE_METHODS:
        check_csrf(signed_in.csrf_token, await submitted_csrf_token(request))
    return viewer


ViewerDep = Annotated[Viewer, Depends(current_viewer)]


async def require_admin(viewer: ViewerDep) -> Viewer:
    """Admin-only pages: a tenant key sees them as absent."""
    if not viewer.principal.is_admin:
        raise NotFound("this page is for the operator's admin key")
    return viewer


AdminViewerDep = Annotated[Viewer, Depends(require_admin)]


async def tenant_view(tenant_id: str, viewer: ViewerDep, request: Request) -> TenantView:
    """The tenant in the path, once the viewer may see it: the same rule as the API (404)."""
    tenant = await services_of(request).auth.visible_tenant(viewer.principal, tenant_id)
    request.state.tenant = tenant
    return TenantView(viewer=viewer, tenant=tenant)


TenantViewDep = Annotated[TenantView, Depends(tenant_view)]


async def chosen_tenant(viewer: AdminViewerDep, request: Request) -> Tenant | None:
    """The tenant the admin chose, on the admin's pages that belong to no tenant.

    Tenants and Event types are outside ``/t/<tenant>/``; the chosen tenant
    travels with them as ``?tenant=`` (:func:`hookwire.dashboard.render.with_tenant`),
    so that the picker and the navigation still lead back to its webhooks. A
    tenant deleted since, or an id that is no tenant, is simply no choice.
    """
    tenant_id = request.query_params.get(TENANT_PARAM)
    if not tenant_id:
        return None
    try:
        tenant = await services_of(request).auth.visible_tenant(viewer.principal, tenant_id)
    except NotFound:
        return None
    request.state.tenant = tenant
    return tenant


# Admin pages only: the admin check comes first.
ChosenTenantDep = Annotated[Tenant | None, Depends(chosen_tenant)]


def safe_next(target: str | None) -> str:
    """Where to go after signing in: only a path on this site, never another host."""
    # Browsers drop tabs and newlines from URLs and read a backslash as "/", so
    # "/<tab>/evil" or "/<backslash>evil" would become "//evil", another host.
    if (
        not target
        or not target.startswith("/")
        or target.startswith("//")
        or "\\" in target
        or any(c.isspace() or not c.isprintable() for c in target)
    ):
        return "/"
    return target


def signin_url(request: Request, reason: str | None = None) -> str:
    """The sign-in page, returning afterwards to the page the person was on."""
    if request.method == "GET" and "HX-Request" not in request.headers:
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    else:
        # After a POST or an htmx fragment, come back to the page, not the endpoint.
        current = request.headers.get("HX-Current-URL", "")
        here = urlsplit(current).path if current else "/"
    url = "/signin?next=" + quote(safe_next(here), safe="")
    return url + (f"&reason={reason}" if reason in SIGNIN_REASONS else "")
