"""The customer portal on both databases: links, their sessions, the portal's pages and headers.

The browser's side (a real Chromium, an iframe) is in test_dashboard_portal.py.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import sqlalchemy as sa
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import ValidationError

from hookwire.app import create_app
from hookwire.config import Settings
from hookwire.dashboard import PAGES
from hookwire.dashboard.catalogue_pages import example_body, example_value
from hookwire.dashboard.portal_pages import accent_css
from hookwire.dashboard.render import DashboardRoute, tenant_url
from hookwire.dashboard.session import PORTAL_COOKIE, SESSION_COOKIE, require_admin
from hookwire.service.sessions import SESSION_KIND_PORTAL, hash_session_id
from hookwire.storage import Storage
from hookwire.storage.tables import dashboard_sessions, portal_links
from tests.conftest import TenantClients
from tests.test_dashboard_session import CSRF_INPUT, _sign_in

BASE = "http://hookwire.test"
REFUSED_WORDS = "This sign-in link was already used or has expired; ask"
FRAMING = "https://app.example.com http://127.0.0.1:8000"


def _client(settings: Settings, storage: Storage, base: str = BASE) -> httpx.AsyncClient:
    """A cookie-keeping client on a fresh app over the shared storage: one browser."""
    transport = httpx.ASGITransport(app=create_app(settings, storage))
    return httpx.AsyncClient(transport=transport, base_url=base)


@pytest.fixture
async def browser(settings: Settings, storage: Storage) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(settings, storage) as client:
        yield client


async def _tenant(api: httpx.AsyncClient, name: str = "Acme") -> str:
    response = await api.post("/v1/tenants", json={"name": name})
    assert response.status_code == 201, response.text
    tenant_id: str = response.json()["id"]
    return tenant_id


async def _link(api: httpx.AsyncClient, tenant_id: str) -> str:
    """A new portal link's path (``/portal/<secret>``)."""
    response = await api.post(f"/v1/tenants/{tenant_id}/portal-links")
    assert response.status_code == 201, response.text
    url: str = response.json()["url"]
    return urlsplit(url).path


async def _open(browser: httpx.AsyncClient, link: str, tenant_id: str) -> str:
    """Use the link as the customer's browser does; the portal session's id."""
    response = await browser.get(link)
    assert response.status_code == 303, response.text
    assert response.headers["location"] == tenant_url(tenant_id, "webhooks")
    session_id = browser.cookies.get(PORTAL_COOKIE)
    assert session_id
    return session_id


def _refused(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text
    assert REFUSED_WORDS in response.text
    assert "set-cookie" not in response.headers


async def _expire_links(storage: Storage) -> None:
    async with storage.write() as conn:
        await conn.execute(
            sa.update(portal_links).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )


# --- the API ------------------------------------------------------------------------


async def test_admin_creates_a_single_use_link_of_which_only_a_hash_is_kept(
    api: httpx.AsyncClient, storage: Storage
) -> None:
    tenant_id = await _tenant(api)
    before = datetime.now(UTC)
    response = await api.post(f"/v1/tenants/{tenant_id}/portal-links")
    after = datetime.now(UTC)
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"url", "expiresAt"}
    assert body["url"].startswith(f"{BASE}/portal/")
    secret = body["url"].rsplit("/", 1)[1]
    assert len(secret) >= 43
    expires = datetime.fromisoformat(body["expiresAt"])
    assert before + timedelta(minutes=10) <= expires <= after + timedelta(minutes=10)

    async with storage.read() as conn:
        row = (await conn.execute(sa.select(portal_links))).one()
    assert row.id_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert row.tenant_id == tenant_id and row.used_at is None
    assert not any(secret in str(value) for value in row)

    # Each call makes another link.
    assert await _link(api, tenant_id) != urlsplit(body["url"]).path


async def test_the_url_follows_the_request_scheme_and_host(
    settings: Settings, storage: Storage, api: httpx.AsyncClient
) -> None:
    tenant_id = await _tenant(api)
    async with _client(settings, storage, "https://portal.example.com") as https:
        response = await https.post(f"/v1/tenants/{tenant_id}/portal-links", headers=api.headers)
    assert response.status_code == 201, response.text
    assert response.json()["url"].startswith("https://portal.example.com/portal/")


async def test_the_link_lifetime_is_configurable(
    settings: Settings, storage: Storage, api: httpx.AsyncClient
) -> None:
    tenant_id = await _tenant(api)
    shorter = settings.model_copy(update={"portal_link_minutes": 2.5})
    async with _client(shorter, storage) as client:
        before = datetime.now(UTC)
        response = await client.post(f"/v1/tenants/{tenant_id}/portal-links", headers=api.headers)
    expires = datetime.fromisoformat(response.json()["expiresAt"])
    assert before + timedelta(minutes=2.5) <= expires <= datetime.now(UTC) + timedelta(minutes=2.5)


async def test_only_the_admin_makes_links_or_ends_portal_sessions(
    api: httpx.AsyncClient, tenants: TenantClients, storage: Storage
) -> None:
    tenant_id, tenant_api = await tenants.create()
    for method, path in (("POST", "portal-links"), ("DELETE", "portal-sessions")):
        # A tenant key is refused, even for its own tenant.
        response = await tenant_api.request(method, f"/v1/tenants/{tenant_id}/{path}")
        assert response.status_code == 403, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert "admin key" in response.json()["detail"]
        # The admin, for a tenant that does not exist.
        response = await api.request(method, f"/v1/tenants/no-such-tenant/{path}")
        assert response.status_code == 404, response.text
        assert "tenant 'no-such-tenant'" in response.json()["detail"]
    async with storage.read() as conn:
        assert (
            await conn.execute(sa.select(sa.func.count()).select_from(portal_links))
        ).scalar() == 0


# --- using a link ---------------------------------------------------------------------


async def test_a_link_signs_in_once_to_its_tenant_without_a_key(
    api: httpx.AsyncClient, browser: httpx.AsyncClient, settings: Settings, storage: Storage
) -> None:
    tenant_id = await _tenant(api)
    link = await _link(api, tenant_id)
    response = await browser.get(link)
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{PORTAL_COOKIE}=")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
    assert "Max-Age=3600" in cookie
    session_id = browser.cookies[PORTAL_COOKIE]
    webhooks = await browser.get(tenant_url(tenant_id, "webhooks"))
    assert webhooks.status_code == 200, webhooks.text
    assert "Add webhook" in webhooks.text

    stored = await storage.find_dashboard_session(hash_session_id(session_id))
    assert stored is not None and stored.kind == SESSION_KIND_PORTAL
    assert stored.tenant_id == tenant_id and stored.api_key_id is None and not stored.is_admin
    assert stored.expires_at - stored.created_at == timedelta(minutes=60)

    # Again, in this browser or another: refused, and no session.
    _refused(await browser.get(link), 410)
    async with _client(settings, storage) as other:
        _refused(await other.get(link), 410)
        assert PORTAL_COOKIE not in other.cookies
    async with storage.read() as conn:
        count = sa.select(sa.func.count()).select_from(dashboard_sessions)
        assert (await conn.execute(count)).scalar() == 1


async def test_an_expired_or_unknown_link_signs_no_one_in(
    api: httpx.AsyncClient, browser: httpx.AsyncClient, storage: Storage
) -> None:
    tenant_id = await _tenant(api)
    link = await _link(api, tenant_id)
    await _expire_links(storage)
    _refused(await browser.get(link), 410)
    _refused(await browser.get("/portal/" + "x" * 43), 404)
    async with storage.read() as conn:
        count = sa.select(sa.func.count()).select_from(dashboard_sessions)
        assert (await conn.execute(count)).scalar() == 0
        assert (await conn.execute(sa.select(portal_links.c.used_at))).scalar() is None


async def test_the_refusal_names_the_operators_product(
    settings: Settings, storage: Storage
) -> None:
    branded = settings.model_copy(update={"portal_product_name": "Licensly"})
    async with _client(branded, storage) as browser:
        response = await browser.get("/portal/" + "x" * 43)
    assert "ask Licensly for a new one" in response.text
    assert "<title>This sign-in link no longer works · Licensly</title>" in response.text


async def test_two_uses_at_once_give_one_session(
    api: httpx.AsyncClient, settings: Settings, storage: Storage
) -> None:
    tenant_id = await _tenant(api)
    link = await _link(api, tenant_id)
    async with _client(settings, storage) as first, _client(settings, storage) as second:
        answers = await asyncio.gather(first.get(link), second.get(link))
    assert sorted(a.status_code for a in answers) == [303, 410]
    async with storage.read() as conn:
        count = sa.select(sa.func.count()).select_from(dashboard_sessions)
        assert (await conn.execute(count)).scalar() == 1


async def test_a_link_replaces_the_browsers_key_session(
    api: httpx.AsyncClient, browser: httpx.AsyncClient, storage: Storage
) -> None:
    tenant_id = await _tenant(api)
    key = await api.post(f"/v1/tenants/{tenant_id}/api-keys", json={"name": "k"})
    key_session = await _sign_in(browser, key.json()["key"])
    await _open(browser, await _link(api, tenant_id), tenant_id)
    assert SESSION_COOKIE not in browser.cookies
    assert await storage.find_dashboard_session(hash_session_id(key_session)) is None


async def test_over_https_the_cookie_can_live_in_a_cross_site_iframe(
    api: httpx.AsyncClient, settings: Settings, storage: Storage
) -> None:
    tenant_id = await _tenant(api)
    link = await _link(api, tenant_id)
    async with _client(settings, storage, "https://hookwire.test") as browser:
        response = await browser.get(link)
        cookie = response.headers["set-cookie"]
        assert "SameSite=none" in cookie and "Secure" in cookie and "Partitioned" in cookie
        assert (await browser.get(tenant_url(tenant_id, "webhooks"))).status_code == 200


# --- ending portal sessions -----------------------------------------------------------


async def test_the_admin_ends_a_tenants_portal_sessions_and_unused_links(
    api: httpx.AsyncClient, browser: httpx.AsyncClient, settings: Settings, storage: Storage
) -> None:
    tenant_id = await _tenant(api)
    other_id = await _tenant(api, "Other")
    await _open(browser, await _link(api, tenant_id), tenant_id)
    unused = await _link(api, tenant_id)
    async with _client(settings, storage) as other_portal, _client(settings, storage) as keyed:
        other_session = await _open(other_portal, await _link(api, other_id), other_id)
        key = await api.post(f"/v1/tenants/{tenant_id}/api-keys", json={"name": "k"})
        await _sign_in(keyed, key.json()["key"])

        ended = await api.delete(f"/v1/tenants/{tenant_id}/portal-sessions")
        assert ended.status_code == 204, ended.text

        webhooks = tenant_url(tenant_id, "webhooks")
        response = await browser.get(webhooks)
        assert response.status_code == 303
        assert response.headers["location"] == "/portal/ended"
        ended_page = await browser.get("/portal/ended")
        assert "Your session has ended" in ended_page.text
        # An htmx request is sent there too.
        fragment = await browser.get(webhooks, headers={"HX-Request": "true"})
        assert fragment.headers["HX-Redirect"] == "/portal/ended"
        # The link not used yet is gone; the key's session and another tenant's portal stay.
        async with _client(settings, storage) as late:
            _refused(await late.get(unused), 404)
        assert (await keyed.get(webhooks)).status_code == 200
        assert (await other_portal.get(tenant_url(other_id, "webhooks"))).status_code == 200
        assert await storage.find_dashboard_session(hash_session_id(other_session)) is not None


async def test_an_expired_portal_session_leads_to_the_ended_page(
    api: httpx.AsyncClient, browser: httpx.AsyncClient, storage: Storage
) -> None:
    tenant_id = await _tenant(api)
    await _open(browser, await _link(api, tenant_id), tenant_id)
    async with storage.write() as conn:
        await conn.execute(
            sa.update(dashboard_sessions).values(
                expires_at=datetime.now(UTC) - timedelta(seconds=1)
            )
        )
    response = await browser.get(tenant_url(tenant_id, "events"))
    assert response.status_code == 303 and response.headers["location"] == "/portal/ended"


async def test_deleting_the_tenant_ends_its_portal_sessions_and_links(
    api: httpx.AsyncClient, browser: httpx.AsyncClient, storage: Storage
) -> None:
    tenant_id = await _tenant(api)
    session_id = await _open(browser, await _link(api, tenant_id), tenant_id)
    unused = await _link(api, tenant_id)
    assert (await api.delete(f"/v1/tenants/{tenant_id}")).status_code == 204
    assert await storage.find_dashboard_session(hash_session_id(session_id)) is None
    _refused(await browser.get(unused), 404)


async def test_signing_out_of_the_portal_ends_its_session(
    api: httpx.AsyncClient, browser: httpx.AsyncClient, storage: Storage
) -> None:
    tenant_id = await _tenant(api)
    session_id = await _open(browser, await _link(api, tenant_id), tenant_id)
    page = await browser.get(tenant_url(tenant_id, "webhooks"))
    match = CSRF_INPUT.search(page.text)
    assert match is not None
    response = await browser.post("/signout", data={"csrf_token": match.group(1)})
    assert response.status_code == 303 and response.headers["location"] == "/portal/ended"
    assert PORTAL_COOKIE not in browser.cookies
    assert await storage.find_dashboard_session(hash_session_id(session_id)) is None


# --- what a portal session sees -------------------------------------------------------


def _needs_admin(dependant: Dependant) -> bool:
    return any(d.call is require_admin or _needs_admin(d) for d in dependant.dependencies)


def _dashboard_routes() -> list[APIRoute]:
    return [r for module in PAGES for r in module.router.routes if isinstance(r, DashboardRoute)]


def _fill(path: str, tenant_id: str) -> str:
    values = {"tenant_id": tenant_id, "name": "license.created"}
    return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), "x"), path)


async def test_a_portal_session_sees_no_admin_page_and_no_other_tenant(
    api: httpx.AsyncClient, browser: httpx.AsyncClient, settings: Settings, storage: Storage
) -> None:
    await api.post("/v1/event-types", json={"name": "license.created"})
    tenant_id = await _tenant(api)
    other_id = await _tenant(api, "Other")
    other_hook = await api.post(
        f"/v1/tenants/{other_id}/webhooks",
        json={"name": "Theirs", "url": "http://127.0.0.1:9/hook", "events": ["*"]},
    )
    assert other_hook.status_code == 201, other_hook.text
    await _open(browser, await _link(api, tenant_id), tenant_id)
    page = await browser.get(tenant_url(tenant_id, "webhooks"))
    match = CSRF_INPUT.search(page.text)
    assert match is not None
    token = match.group(1)

    routes = _dashboard_routes()
    admin_routes = [r for r in routes if _needs_admin(r.dependant)]
    # Tenants, keys and the event types' pages, each GET and POST.
    assert len(admin_routes) >= 8
    for route in admin_routes:
        for method in route.methods or ():
            url = _fill(route.path, tenant_id)
            response = await browser.request(method, url, data={"csrf_token": token})
            assert response.status_code == 404, (method, url, response.status_code)
            assert "for the operator" in response.text

    # Every tenant page, for another tenant: as absent as for a tenant key.
    tenant_routes = [r for r in routes if "{tenant_id}" in r.path and r not in admin_routes]
    assert len(tenant_routes) >= 10
    for route in tenant_routes:
        for method in route.methods or ():
            url = _fill(route.path, other_id).replace("/x", "/" + other_hook.json()["id"], 1)
            response = await browser.request(method, url, data={"csrf_token": token})
            assert response.status_code == 404, (method, url, response.status_code)
    assert (await browser.get(f"/t?tenant={other_id}")).status_code == 404
    # The navigation offers nothing of the admin's.
    for admin_link in ('href="/tenants', 'href="/event-types', '/keys"', "tenant-picker"):
        assert admin_link not in page.text


async def test_the_event_catalogue_shows_each_type_with_an_example(
    api: httpx.AsyncClient, browser: httpx.AsyncClient, tenants: TenantClients
) -> None:
    schema = {
        "type": "object",
        "required": ["key"],
        "properties": {"key": {"type": "string", "examples": ["D08B53-C564F8"]}},
    }
    await api.post(
        "/v1/event-types",
        json={"name": "license.created", "description": "A license was created", "schema": schema},
    )
    await api.post("/v1/event-types", json={"name": "license.expired"})
    tenant_id, _ = await tenants.create()
    await _open(browser, await _link(api, tenant_id), tenant_id)
    page = await browser.get(tenant_url(tenant_id, "catalogue"))
    assert page.status_code == 200, page.text
    text = page.text
    assert "license.created" in text and "A license was created" in text
    assert "license.expired" in text and "No description." in text
    assert "&#34;key&#34;: &#34;D08B53-C564F8&#34;" in text  # the example body, escaped
    assert "&#34;required&#34;" in text  # the schema
    assert 'aria-current="page">Event catalogue' in text


def test_examples_follow_the_schema() -> None:
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {
            "key": {"type": "string"},
            "seats": {"type": "integer", "default": 5},
            "plan": {"enum": ["pro", "team"]},
            "tags": {"type": "array", "items": {"type": "string"}},
            "owner": {"type": ["null", "object"], "properties": {"email": {"const": "a@b.c"}}},
            "either": {"anyOf": [{"type": "boolean"}, {"type": "string"}]},
        },
    }
    assert example_value(schema) == {
        "key": "string",
        "seats": 5,
        "plan": "pro",
        "tags": ["string"],
        "owner": {"email": "a@b.c"},
        "either": True,
    }
    assert example_value({"examples": [{"a": 1}], "type": "object"}) == {"a": 1}
    # A schema that nests forever stops.
    deep: dict[str, Any] = {"type": "object", "properties": {}}
    node = deep
    for _ in range(20):
        child: dict[str, Any] = {"type": "object", "properties": {}}
        node["properties"]["next"] = child
        node = child
    assert "null" in example_body("a.b", deep)
    assert '"data": {}' in example_body("a.b", None)


# --- framing and branding --------------------------------------------------------------


def _frame_ancestors(response: httpx.Response) -> str:
    policy = response.headers["content-security-policy"]
    match = re.search(r"frame-ancestors ([^;]+)", policy)
    assert match is not None, policy
    return match.group(1)


async def test_portal_pages_may_be_framed_by_the_configured_origins_only(
    api: httpx.AsyncClient, settings: Settings, storage: Storage
) -> None:
    tenant_id = await _tenant(api)
    key = await api.post(f"/v1/tenants/{tenant_id}/api-keys", json={"name": "k"})
    framed = settings.model_copy(update={"portal_frame_ancestors": FRAMING})
    async with _client(framed, storage) as portal, _client(framed, storage) as keyed:
        opened = await portal.get(await _link(api, tenant_id))
        pages = [
            opened,
            await portal.get(tenant_url(tenant_id, "webhooks")),
            await portal.get(tenant_url(tenant_id, "catalogue")),
            await portal.get("/tenants"),  # a 404 page, shown in the same frame
            await portal.get("/portal/ended"),
            await portal.get("/portal/" + "x" * 43),
        ]
        for response in pages:
            assert _frame_ancestors(response) == FRAMING, response.url
            assert "x-frame-options" not in response.headers, response.url
        # The rest of the policy is unchanged.
        assert "script-src 'self';" in pages[1].headers["content-security-policy"]
        # Anyone else's pages: never framed.
        await _sign_in(keyed, key.json()["key"])
        for url in (tenant_url(tenant_id, "webhooks"), "/signin"):
            response = await keyed.get(url)
            assert _frame_ancestors(response) == "'none'"
            assert response.headers["x-frame-options"] == "DENY"


async def test_without_configured_origins_the_portal_is_never_framed(
    api: httpx.AsyncClient, browser: httpx.AsyncClient
) -> None:
    tenant_id = await _tenant(api)
    await _open(browser, await _link(api, tenant_id), tenant_id)
    response = await browser.get(tenant_url(tenant_id, "webhooks"))
    assert _frame_ancestors(response) == "'none'"
    assert response.headers["x-frame-options"] == "DENY"


async def test_the_portal_shows_the_operators_name_and_colour(
    api: httpx.AsyncClient, settings: Settings, storage: Storage
) -> None:
    tenant_id = await _tenant(api)
    key = await api.post(f"/v1/tenants/{tenant_id}/api-keys", json={"name": "k"})
    branded = settings.model_copy(
        update={"portal_product_name": "Licensly", "portal_accent_color": "#0A7F5C"}
    )
    async with _client(branded, storage) as portal, _client(branded, storage) as keyed:
        await _open(portal, await _link(api, tenant_id), tenant_id)
        page = (await portal.get(tenant_url(tenant_id, "webhooks"))).text
        assert "<title>Webhooks · Licensly</title>" in page
        assert '<span class="brand-mark" aria-hidden="true"></span>Licensly</a>' in page
        assert 'href="/portal/brand.css?v=%230A7F5C"' in page
        # The words a person reads (not attribute values such as the signature scheme's).
        assert "hookwire" not in re.sub(r"<[^>]*>", " ", page)
        css = await portal.get("/portal/brand.css")
        assert css.headers["content-type"].startswith("text/css")
        assert "--primary: #0a7f5c;" in css.text
        # A key's session is hookwire's own dashboard.
        await _sign_in(keyed, key.json()["key"])
        own = (await keyed.get(tenant_url(tenant_id, "webhooks"))).text
        assert "· hookwire</title>" in own and "brand.css" not in own


def test_accent_css_derives_its_shades() -> None:
    css = accent_css("#336699")
    assert "--primary: #336699;" in css
    assert "--primary-dark: #2b5782;" in css  # 15 % towards black
    assert "--primary-soft: #eff3f7;" in css  # 92 % towards white
    assert "rgba(51, 102, 153, 0.35)" in css
    assert ".brand-mark { background: var(--primary); }" in css


@pytest.mark.parametrize(
    "value",
    [
        "app.example.com",
        "https://app.example.com/",
        "https://app.example.com/path",
        "https://*.example.com",
        "'self'",
        "https://a.example.com;script-src",
        "ftp://files.example.com",
        "https://a.example.com:99999",
        "https://user@a.example.com",
    ],
)
def test_frame_ancestors_must_be_origins(value: str) -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(portal_frame_ancestors=f"https://ok.example.com {value}")
    assert "scheme://host[:port]" in str(refused.value)
    assert repr(value) in str(refused.value)


def test_frame_ancestors_are_normalised() -> None:
    settings = Settings(portal_frame_ancestors="  https://a.example.com\thttp://[::1]:8080  ")
    assert settings.portal_frame_ancestors == "https://a.example.com http://[::1]:8080"


# --- retention ----------------------------------------------------------------------


async def test_expired_links_are_purged_with_the_other_retention_jobs(
    api: httpx.AsyncClient, storage: Storage
) -> None:
    tenant_id = await _tenant(api)
    await _link(api, tenant_id)
    await _link(api, tenant_id)
    async with storage.write() as conn:
        first = sa.select(portal_links.c.id_hash).limit(1).scalar_subquery()
        await conn.execute(
            sa.update(portal_links)
            .where(portal_links.c.id_hash == first)
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    report = await storage.maintain_retention(datetime.now(UTC), 30)
    assert report.portal_links == 1 and report.purged
    async with storage.read() as conn:
        left = (await conn.execute(sa.select(portal_links.c.expires_at))).scalars().all()
    assert len(left) == 1 and left[0] > datetime.now(UTC)
