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
# A portal session's cookie (portal_pages.py): its own name, because it may be
# SameSite=None for an iframe, and so that an ended one leads back to the portal.
PORTAL_COOKIE = "hookwire_portal"
PORTAL_ENDED_URL = "/portal/ended"
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
    so only fixed texts can ever be shown there. ``portal``: the session was
    a portal's, whose person has no key to sign in with.
    """

    def __init__(self, reason: str | None = None, portal: bool = False) -> None:
        super().__init__(reason or "sign in required")
        self.reason = reason
        self.portal = portal


SIGNIN_REASONS = {
    "expired": "Your session has ended. Sign in again.",
    "revoked": "That API key is no longer valid. Sign in with a current key.",
    "signed-out": "You are signed out.",
}


class CsrfRejected(Exception):
    """An unsafe request without this session's CSRF token."""


@dataclass(frozen=True, slots=True)
class Viewer:
    """The signed-in person: who they are, their session's CSRF token, and whether the
    session came from a portal link (one tenant, no key)."""

    principal: Principal
    csrf_token: str
    portal: bool = False


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


def _session_cookie(
    response: Response, request: Request, name: str, value: str, max_age: int
) -> None:
    """A session cookie (``max_age`` 0 deletes it). HttpOnly and SameSite=Lax, Secure over
    https; the portal's is SameSite=None; Secure; Partitioned over https.

    The portal may be shown in another site's iframe, where a SameSite=Lax
    cookie is never sent; browsers accept SameSite=None only with Secure, so
    over plain http the portal's cookie stays SameSite=Lax (and an iframe works
    only within the same site). Partitioned (CHIPS) keeps it working where
    third-party cookies are blocked: it is kept apart per embedding site, and
    deleted only by a partitioned Set-Cookie.
    """
    https = request.url.scheme == "https"
    cross_site = name == PORTAL_COOKIE and https
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        expires=None if max_age else 0,
        path="/",
        httponly=True,
        samesite="none" if cross_site else "lax",
        secure=https,
    )
    if cross_site:  # Python's cookies learn the attribute in 3.14
        name_bytes, header = response.raw_headers[-1]
        assert name_bytes == b"set-cookie", "the last header is the cookie just set"
        response.raw_headers[-1] = (name_bytes, header + b"; Partitioned")


async def _end_other_session(response: Response, request: Request, keep: str) -> None:
    """Signing in one way ends a session the browser had the other way."""
    other = PORTAL_COOKIE if keep == SESSION_COOKIE else SESSION_COOKIE
    session_id = request.cookies.get(other)
    if session_id:
        await services_of(request).sessions.end(session_id)
        _session_cookie(response, request, other, "", 0)


async def start_session(response: Response, request: Request, principal: Principal) -> None:
    """Sign in: a new session, its id in the cookie (a session the browser still had ends)."""
    services = services_of(request)
    session_id = await services.sessions.start(principal, request.cookies.get(SESSION_COOKIE))
    set_cookie(response, request, SESSION_COOKIE, session_id, SESSION_MAX_AGE_SECONDS)
    await _end_other_session(response, request, SESSION_COOKIE)


async def start_portal_session(response: Response, request: Request, secret: str) -> str:
    """Use a portal link: a portal session, its id in the portal cookie; answers the tenant.

    :class:`hookwire.service.portal.LinkRefused` when the link signs no one in.
    """
    portal = services_of(request).portal
    signed_in = await portal.sign_in(secret, request.cookies.get(PORTAL_COOKIE))
    lifetime = int(signed_in.lifetime_seconds)
    _session_cookie(response, request, PORTAL_COOKIE, signed_in.session_id, lifetime)
    await _end_other_session(response, request, PORTAL_COOKIE)
    return signed_in.tenant_id


async def end_session(response: Response, request: Request) -> None:
    """Sign out: the session ends on the server, so no copy of the cookie works any more."""
    for name in (SESSION_COOKIE, PORTAL_COOKIE):
        session_id = request.cookies.get(name)
        if session_id:
            await services_of(request).sessions.end(session_id)
            _session_cookie(response, request, name, "", 0)


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
    portal = not session_id and PORTAL_COOKIE in request.cookies
    if portal:
        # Kept for rendering: a portal's pages, its ended page too, are framed and branded.
        request.state.portal = True
        session_id = request.cookies[PORTAL_COOKIE]
    if not session_id:
        raise SignInRequired()
    services = services_of(request)
    try:
        signed_in = await services.sessions.resume(session_id)
    except SessionEnded as exc:
        raise SignInRequired(exc.reason, portal=portal) from None
    viewer = Viewer(
        principal=signed_in.principal,
        csrf_token=signed_in.csrf_token,
        portal=signed_in.is_portal,
    )
    request.state.portal = viewer.portal
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
