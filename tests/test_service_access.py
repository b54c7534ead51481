"""Who may act, through the service (no HTTP), on both databases: keys, tenants, sessions."""

from __future__ import annotations

import pytest

from hookwire.config import Settings
from hookwire.errors import NotFound
from hookwire.metrics import Metrics
from hookwire.service import Services
from hookwire.service.auth import ADMIN
from hookwire.service.inputs import ApiKeyCreate, TenantCreate
from hookwire.service.sessions import SessionEnded
from hookwire.storage import Storage
from tests.conftest import ADMIN_KEY


@pytest.fixture
async def acme_key(services: Services) -> str:
    """A key of tenant "acme" (tenant "other" exists too)."""
    await services.tenants.create(TenantCreate(id="acme", name="Acme"))
    await services.tenants.create(TenantCreate(id="other", name="Other"))
    return (await services.tenants.create_key("acme", ApiKeyCreate(name="ci"))).key


async def test_keys_authenticate_until_revoked_and_are_shown_once(
    services: Services, acme_key: str
) -> None:
    assert await services.auth.authenticate(ADMIN_KEY) == ADMIN
    principal = await services.auth.authenticate(acme_key)
    assert principal is not None and principal.tenant_id == "acme"
    [listed] = (await services.tenants.list_keys("acme")).items
    assert listed.id == principal.api_key_id and acme_key not in str(listed)
    with pytest.raises(NotFound):
        await services.tenants.create_key("nobody", ApiKeyCreate())

    await services.tenants.revoke_key("acme", listed.id)
    assert await services.auth.authenticate(acme_key) is None
    assert await services.auth.authenticate(acme_key + "x") is None


async def test_a_tenant_key_finds_other_tenants_absent_and_the_admin_missing_ones(
    services: Services, acme_key: str
) -> None:
    principal = await services.auth.authenticate(acme_key)
    assert principal is not None
    await services.auth.check_tenant(principal, "acme")
    with pytest.raises(NotFound):
        await services.auth.check_tenant(principal, "other")
    with pytest.raises(NotFound):
        await services.auth.visible_tenant(principal, "other")
    await services.auth.check_tenant(ADMIN, "other")
    with pytest.raises(NotFound):
        await services.auth.check_tenant(ADMIN, "nobody")


async def test_a_session_lasts_until_it_ends_or_its_key_stops_counting(
    services: Services, storage: Storage, settings: Settings, acme_key: str
) -> None:
    principal = await services.auth.authenticate(acme_key)
    assert principal is not None
    first = await services.sessions.start(principal)
    second = await services.sessions.start(principal, replacing=first)
    with pytest.raises(SessionEnded) as replaced:
        await services.sessions.resume(first)
    assert replaced.value.reason == "expired"
    resumed = await services.sessions.resume(second)
    assert resumed.principal == principal and resumed.csrf_token
    await services.sessions.end(second)
    with pytest.raises(SessionEnded):
        await services.sessions.resume(second)

    admin_session = await services.sessions.start(ADMIN)
    assert (await services.sessions.resume(admin_session)).principal == ADMIN
    rekeyed = settings.model_copy(update={"admin_key": ADMIN_KEY + "-changed"})
    with pytest.raises(SessionEnded) as revoked:
        await Services(storage, rekeyed, Metrics()).sessions.resume(admin_session)
    assert revoked.value.reason == "revoked"
