"""Typed FastAPI dependencies: the storage, the settings, the caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from hookwire.api.models import UtcDatetime
from hookwire.api.problems import Problem
from hookwire.auth import Principal, authenticate, check_tenant_access
from hookwire.config import Settings
from hookwire.metrics import Metrics
from hookwire.storage import Storage
from hookwire.storage.base import DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT

_CHALLENGE = {"WWW-Authenticate": "Bearer"}
# A cursor this server hands out is a few hundred characters at most.
MAX_CURSOR_CHARS = 1024
_bearer = HTTPBearer(auto_error=False, description="An admin or tenant API key.")


def get_storage(request: Request) -> Storage:
    storage: Storage = request.app.state.storage
    return storage


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_metrics(request: Request) -> Metrics:
    metrics: Metrics = request.app.state.metrics
    return metrics


StorageDep = Annotated[Storage, Depends(get_storage)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


async def get_principal(
    storage: StorageDep,
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Problem(401, "send an API key as `Authorization: Bearer <key>`", headers=_CHALLENGE)
    principal = await authenticate(storage, settings.admin_key, credentials.credentials)
    if principal is None:
        raise Problem(
            401,
            "the API key is not valid (revoked, mistyped, or for another server)",
            headers=_CHALLENGE,
        )
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


async def require_admin(principal: PrincipalDep) -> Principal:
    if not principal.is_admin:
        raise Problem(403, "this needs the admin key; tenant keys act only on their own tenant")
    return principal


AdminDep = Annotated[Principal, Depends(require_admin)]


async def tenant_access(tenant_id: str, principal: PrincipalDep, storage: StorageDep) -> str:
    """The path's tenant, once the caller may act on it and it exists."""
    check_tenant_access(principal, tenant_id)
    if principal.is_admin:
        await storage.get_tenant(tenant_id)
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
