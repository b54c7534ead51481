"""Typed FastAPI dependencies: the services, the caller, and shared query parameters."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from hookwire.errors import Forbidden, Unauthorized
from hookwire.service import Services
from hookwire.service.auth import Principal
from hookwire.service.inputs import DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT, UtcDatetime

# A cursor this server hands out is a few hundred characters at most.
MAX_CURSOR_CHARS = 1024
_bearer = HTTPBearer(auto_error=False, description="An admin or tenant API key.")


async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


async def _authenticate(
    services: Services, credentials: HTTPAuthorizationCredentials | None
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("send an API key as `Authorization: Bearer <key>`")
    principal = await services.auth.authenticate(credentials.credentials)
    if principal is None:
        raise Unauthorized("the API key is not valid (revoked, mistyped, or for another server)")
    return principal


async def get_principal(services: ServicesDep, credentials: Credentials) -> Principal:
    return await _authenticate(services, credentials)


PrincipalDep = Annotated[Principal, Depends(get_principal)]


async def require_admin(principal: PrincipalDep) -> Principal:
    if not principal.is_admin:
        raise Forbidden("this needs the admin key; tenant keys act only on their own tenant")
    return principal


AdminDep = Annotated[Principal, Depends(require_admin)]


async def tenant_access(tenant_id: str, request: Request, credentials: Credentials) -> str:
    """The path's tenant, once the caller may act on it and it exists.

    One dependency rather than a chain of them (services, then the caller,
    then the tenant): FastAPI's per-request work grows with each one, and
    every tenant route, ``POST …/events`` above all, runs this.
    """
    services = await get_services(request)
    principal = await _authenticate(services, credentials)
    await services.auth.check_tenant(principal, tenant_id)
    return tenant_id


TenantDep = Annotated[str, Depends(tenant_access)]


# Query parameters shared by the routes: paging and time ranges.
Limit = Annotated[
    int | None,
    Query(ge=1, le=MAX_PAGE_LIMIT, description=f"Page size (default {DEFAULT_PAGE_LIMIT})."),
]
Cursor = Annotated[
    str | None,
    Query(max_length=MAX_CURSOR_CHARS, description="`nextCursor` of the previous page."),
]
Since = Annotated[UtcDatetime | None, Query(description="From this time on.")]
Until = Annotated[UtcDatetime | None, Query(description="Before this time.")]
