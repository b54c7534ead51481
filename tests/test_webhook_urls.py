"""Webhook URLs that lead to non-public addresses: refused when saved, and at delivery.

The API and the dashboard refuse them with a 422 about ``url`` unless the
operator allows private networks; a URL stored without that check (an older
webhook) is refused by the worker, which decides on the very host aiohttp
connects to.
"""

# The look-alike digits and dots below are the point of these tests.
# ruff: noqa: RUF001

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest

from hookwire.app import create_app
from hookwire.config import Settings
from hookwire.delivery import Worker
from hookwire.storage import Storage
from tests.conftest import ADMIN_KEY
from tests.receivers import Receiver, make_webhook, quick, send_event

PUBLIC = {"name": "Orders", "url": "https://receiver.example/hook", "events": ["license.created"]}
HINT = (
    "hookwire delivers only to public addresses (the operator can allow private networks "
    "with HOOKWIRE_ALLOW_PRIVATE_NETWORKS)"
)
# (url, what the 422 says about it)
REFUSED = [
    ("http://127.0.0.1/hook", "127.0.0.1 is a loopback address"),
    ("http://①②⑦.0.0.1:8080/hook", "127.0.0.1 is a loopback address"),
    ("http://127。0。0。1/hook", "127.0.0.1 is a loopback address"),
    ("http://１２７.０.０.１/hook", "127.0.0.1 is a loopback address"),
    ("http://𝟏𝟐𝟕.0.0.1/hook", "127.0.0.1 is a loopback address"),
    ("http://0x7f.1/hook", "0x7f.1 is 127.0.0.1, a loopback address"),
    ("http://2130706433/hook", "2130706433 is 127.0.0.1, a loopback address"),
    ("http://[::1]:8080/hook", "::1 is a loopback address"),
    ("http://[::ffff:127.0.0.1]/hook", "127.0.0.1 in IPv6 form"),
    ("http://10.0.0.7/hook", "10.0.0.7 is a private address"),
    ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local address"),
    ("http://①⑥⑨.②⑤④.①⑥⑨.②⑤④/", "169.254.169.254 is a link-local address"),
    ("http://localhost:8080/hook", "localhost is a name of this machine"),
    ("http://LocalHost./hook", "localhost is a name of this machine"),
    ("http://metadata.google.internal/", "local network name (.internal)"),
    ("http://printer.local/hook", "local network name (.local)"),
    ("http://db:5432/hook", "db is a single-label name"),
]
REFUSED_URLS = [url for url, _ in REFUSED]


async def admin_client(settings: Settings, storage: Storage) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(settings, storage)),
        base_url="http://hookwire.test",
        headers={"Authorization": f"Bearer {ADMIN_KEY}"},
    )


@pytest.fixture
async def guarded_api(settings: Settings, storage: Storage) -> AsyncIterator[httpx.AsyncClient]:
    """An admin client of an app that does not allow private networks, with tenant "acme"."""
    guarded = settings.model_copy(update={"allow_private_networks": False})
    async with await admin_client(guarded, storage) as client:
        assert (await client.post("/v1/event-types", json={"name": "license.created"})).is_success
        assert (await client.post("/v1/tenants", json={"id": "acme", "name": "Acme"})).is_success
        yield client


async def stored_urls(storage: Storage) -> list[str]:
    return [w.url for w in (await storage.list_webhooks("acme", 250, None)).items]


# --- the API -------------------------------------------------------------------------


@pytest.mark.parametrize(("url", "reason"), REFUSED)
async def test_creating_a_webhook_with_a_private_url_is_refused(
    guarded_api: httpx.AsyncClient, storage: Storage, url: str, reason: str
) -> None:
    r = await guarded_api.post("/v1/tenants/acme/webhooks", json={**PUBLIC, "url": url})
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    [error] = problem["errors"]
    assert error["field"] == "url"
    assert reason in error["message"] and error["message"].endswith(HINT)
    assert problem["detail"] == f"url: {error['message']}"
    assert await stored_urls(storage) == []


async def test_the_refusal_says_what_the_operator_can_do(guarded_api: httpx.AsyncClient) -> None:
    r = await guarded_api.post(
        "/v1/tenants/acme/webhooks", json={**PUBLIC, "url": "http://127.0.0.1/hook"}
    )
    assert r.json()["detail"] == (
        "url: 127.0.0.1 is a loopback address; hookwire delivers only to public addresses "
        "(the operator can allow private networks with HOOKWIRE_ALLOW_PRIVATE_NETWORKS)"
    )


async def test_changing_a_webhook_to_a_private_url_is_refused(
    guarded_api: httpx.AsyncClient, storage: Storage
) -> None:
    r = await guarded_api.post("/v1/tenants/acme/webhooks", json=PUBLIC)
    assert r.status_code == 201, r.text
    path = f"/v1/tenants/acme/webhooks/{r.json()['id']}"
    for url in REFUSED_URLS:
        r = await guarded_api.patch(path, json={"url": url, "name": "Moved"})
        assert r.status_code == 422, (url, r.text)
        assert [e["field"] for e in r.json()["errors"]] == ["url"]
    assert (await guarded_api.patch(path, json={"name": "Renamed"})).status_code == 200
    [webhook] = (await storage.list_webhooks("acme", 250, None)).items
    assert (webhook.url, webhook.name) == (PUBLIC["url"], "Renamed")


@pytest.mark.parametrize(
    "url",
    [
        "https://receiver.example/hook",
        "https://bücher.example/hook",
        "http://8.8.8.8:8080/hook",
        "http://[2606:4700:4700::1111]/hook",
        "https://notlocalhost.example/hook",
    ],
)
async def test_public_urls_are_accepted(guarded_api: httpx.AsyncClient, url: str) -> None:
    r = await guarded_api.post("/v1/tenants/acme/webhooks", json={**PUBLIC, "url": url})
    assert r.status_code == 201, r.text
    assert r.json()["url"] == url


async def test_private_urls_are_accepted_when_the_operator_allows_them(
    api: httpx.AsyncClient, storage: Storage
) -> None:
    # The `api` fixture's settings allow private networks.
    assert (await api.post("/v1/event-types", json={"name": "license.created"})).is_success
    assert (await api.post("/v1/tenants", json={"id": "acme", "name": "Acme"})).is_success
    for url in REFUSED_URLS:
        r = await api.post("/v1/tenants/acme/webhooks", json={**PUBLIC, "url": url})
        assert r.status_code == 201, (url, r.text)
    path = f"/v1/tenants/acme/webhooks/{r.json()['id']}"
    assert (await api.patch(path, json={"url": "http://10.1.2.3/h"})).status_code == 200
    assert sorted(await stored_urls(storage)) == sorted([*REFUSED_URLS[:-1], "http://10.1.2.3/h"])


@pytest.mark.parametrize(
    ("url", "hint"),
    [
        ("http://%31%32%37.0.0.1/hook", "must not be percent-encoded"),
        ("http://exa\u200bmple.com/hook", "the URL cannot be read"),
    ],
)
async def test_hosts_the_http_client_cannot_use_are_refused_either_way(
    api: httpx.AsyncClient, guarded_api: httpx.AsyncClient, url: str, hint: str
) -> None:
    for client in (api, guarded_api):
        r = await client.post("/v1/tenants/acme/webhooks", json={**PUBLIC, "url": url})
        assert r.status_code == 422, r.text
        [error] = r.json()["errors"]
        assert error["field"] == "url" and hint in error["message"]


# --- the dashboard ---------------------------------------------------------------------

CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')
URL_ERROR = re.compile(r'<p class="field-error" id="(add|edit)-webhook-form-url-error">([^<]*)</p>')


async def signed_in(client: httpx.AsyncClient) -> None:
    """Sign ``client`` in to the dashboard with the admin key, as a browser does."""
    page = await client.get("/signin")
    match = CSRF_INPUT.search(page.text)
    assert match is not None
    r = await client.post("/signin", data={"api_key": ADMIN_KEY, "csrf_token": match.group(1)})
    assert r.status_code == 303, r.text


async def csrf_token(client: httpx.AsyncClient, path: str) -> str:
    match = CSRF_INPUT.search((await client.get(path)).text)
    assert match is not None
    return match.group(1)


async def test_the_dashboard_shows_the_refusal_beside_the_url_field(
    guarded_api: httpx.AsyncClient, storage: Storage
) -> None:
    created = await guarded_api.post("/v1/tenants/acme/webhooks", json=PUBLIC)
    assert created.status_code == 201, created.text
    hook_id = created.json()["id"]
    browser = httpx.AsyncClient(transport=guarded_api._transport, base_url=guarded_api.base_url)
    async with browser:
        await signed_in(browser)
        form = {"name": "Local", "events": "license.created", "active": "1"}
        for url, reason in REFUSED:
            token = await csrf_token(browser, "/t/acme/webhooks")
            r = await browser.post(
                "/t/acme/webhooks", data={**form, "url": url, "csrf_token": token}
            )
            assert r.status_code == 422, (url, r.text)
            match = URL_ERROR.search(r.text)
            assert match is not None and match.group(1) == "add", r.text
            assert reason in match.group(2) and match.group(2).endswith(HINT)

        edit = f"/t/acme/webhooks/{hook_id}/edit"
        token = await csrf_token(browser, f"/t/acme/webhooks/{hook_id}")
        r = await browser.post(edit, data={**form, "url": "http://①②⑦.0.0.1/", "csrf_token": token})
        assert r.status_code == 422, r.text
        match = URL_ERROR.search(r.text)
        assert match is not None and match.group(1) == "edit", r.text
        assert match.group(2).startswith("127.0.0.1 is a loopback address")

        # A public URL still goes through both forms.
        r = await browser.post(
            edit, data={**form, "url": "https://moved.example/h", "csrf_token": token}
        )
        assert r.status_code == 303, r.text
    assert await stored_urls(storage) == ["https://moved.example/h"]


# --- delivery --------------------------------------------------------------------------


async def deliver(storage: Storage, settings: Settings) -> None:
    async with Worker(storage, settings) as worker:
        await worker.run_until_idle()


@pytest.mark.parametrize(
    "host", ["①②⑦.0.0.1", "127。0。0。1", "１２７.０.０.１", "𝟏𝟐𝟕.0.0.1", "127.0.0.1."]
)
async def test_a_stored_unicode_spelling_of_loopback_is_refused_at_delivery(
    storage: Storage, settings: Settings, host: str
) -> None:
    guarded = quick(settings, allow_private_networks=False)
    async with Receiver() as receiver:
        # Stored directly, as a webhook saved before URLs were checked would be.
        await make_webhook(storage, f"http://{host}:{receiver.port}/hook")
        event = await send_event(storage)
        await deliver(storage, guarded)
    assert receiver.requests == []
    [delivery] = event.deliveries
    done = await storage.get_delivery("acme", delivery.id)
    assert (done.state, done.attempts) == ("failed", 1)  # not retried
    [entry] = await storage.list_delivery_logs("acme", delivery.id)
    assert entry.status_code is None and entry.retry_reason is None
    assert entry.error is not None
    assert entry.error.startswith("address not allowed: 127.0.0.1")
    assert "a loopback address" in entry.error


async def test_the_unicode_spelling_does_reach_loopback_when_private_networks_are_allowed(
    storage: Storage, settings: Settings
) -> None:
    # Why the guard must read the host as aiohttp does: this is where it connects.
    async with Receiver() as receiver:
        await make_webhook(storage, f"http://①②⑦.0.0.1:{receiver.port}/hook")
        event = await send_event(storage)
        await deliver(storage, quick(settings))
    [request] = receiver.requests
    assert request.body == event.payload


async def test_a_stored_url_the_http_client_cannot_read_fails_once(
    storage: Storage, settings: Settings
) -> None:
    await make_webhook(storage, "http://exa\u200bmple.com/hook")
    event = await send_event(storage)
    await deliver(storage, quick(settings))
    [delivery] = event.deliveries
    done = await storage.get_delivery("acme", delivery.id)
    assert (done.state, done.attempts) == ("failed", 1)
    [entry] = await storage.list_delivery_logs("acme", delivery.id)
    assert entry.error is not None and entry.error.startswith("the URL cannot be read: ")
