"""Dashboard sessions kept on the server (both databases), and the dashboard's pure pieces."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import sqlalchemy as sa
from starlette.datastructures import FormData

from hookwire.app import create_app
from hookwire.config import Settings
from hookwire.crypto import hash_api_key
from hookwire.dashboard.forms import form_errors, json_object, parse_moment, webhook_fields
from hookwire.dashboard.lookups import IDLE_POLL_SECONDS, POLL_MIN_SECONDS, poll_seconds
from hookwire.dashboard.render import tenant_url, utc_iso, utc_text
from hookwire.dashboard.session import SESSION_COOKIE, safe_next
from hookwire.enums import DeliveryState, Trigger
from hookwire.errors import Conflict, Invalid
from hookwire.records import DashboardSession, Delivery
from hookwire.service.auth import ADMIN, Principal
from hookwire.service.inputs import WebhookCreate, parse_input
from hookwire.service.sessions import (
    SESSION_KIND_KEY,
    SESSION_MAX_AGE_SECONDS,
    admin_key_fingerprint,
    hash_session_id,
    session_principal,
)
from hookwire.storage import Storage
from hookwire.storage.tables import dashboard_sessions
from tests.conftest import ADMIN_KEY

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


# --- sessions on the server ---------------------------------------------------------


def _browser(settings: Settings, storage: Storage) -> httpx.AsyncClient:
    """A cookie-keeping client on a fresh app over the shared storage (one per "process")."""
    transport = httpx.ASGITransport(app=create_app(settings, storage))
    return httpx.AsyncClient(transport=transport, base_url="http://hookwire.test")


@pytest.fixture
async def browser(settings: Settings, storage: Storage) -> AsyncIterator[httpx.AsyncClient]:
    async with _browser(settings, storage) as client:
        yield client


async def _sign_in(client: httpx.AsyncClient, key: str) -> str:
    """Sign in through the form (with its double-submit token); the session cookie's value."""
    form = await client.get("/signin")
    match = CSRF_INPUT.search(form.text)
    assert match is not None
    response = await client.post("/signin", data={"api_key": key, "csrf_token": match.group(1)})
    assert response.status_code == 303, response.text
    session_id = client.cookies.get(SESSION_COOKIE)
    assert session_id
    return session_id


async def _csrf_token(client: httpx.AsyncClient, path: str) -> str:
    page = await client.get(path)
    assert page.status_code == 200, page.text
    match = CSRF_INPUT.search(page.text)
    assert match is not None
    return match.group(1)


async def _tenant_with_key(api: httpx.AsyncClient) -> tuple[str, dict[str, str]]:
    tenant = await api.post("/v1/tenants", json={"name": "Acme"})
    assert tenant.status_code == 201, tenant.text
    tenant_id: str = tenant.json()["id"]
    key = await api.post(f"/v1/tenants/{tenant_id}/api-keys", json={"name": "dashboard"})
    assert key.status_code == 201, key.text
    created: dict[str, str] = key.json()
    return tenant_id, created


def _sent_to_signin(response: httpx.Response, reason: str) -> None:
    assert response.status_code == 303, response.text
    assert response.headers["location"].startswith("/signin?next=")
    assert response.headers["location"].endswith(f"&reason={reason}")


async def test_a_cookie_copied_before_sign_out_is_refused_after_it(
    api: httpx.AsyncClient, browser: httpx.AsyncClient, settings: Settings, storage: Storage
) -> None:
    tenant_id, key = await _tenant_with_key(api)
    session_id = await _sign_in(browser, key["key"])
    webhooks = tenant_url(tenant_id, "webhooks")
    token = await _csrf_token(browser, webhooks)

    signed_out = await browser.post("/signout", data={"csrf_token": token})
    assert signed_out.status_code == 303
    assert signed_out.headers["location"] == "/signin?reason=signed-out"
    assert await storage.find_dashboard_session(hash_session_id(session_id)) is None
    async with _browser(settings, storage) as thief:
        thief.cookies.set(SESSION_COOKIE, session_id)
        _sent_to_signin(await thief.get(webhooks), "expired")


async def test_signing_in_again_ends_the_earlier_session(
    api: httpx.AsyncClient, browser: httpx.AsyncClient, storage: Storage
) -> None:
    _, key = await _tenant_with_key(api)
    first = await _sign_in(browser, key["key"])
    second = await _sign_in(browser, key["key"])
    assert first != second
    assert await storage.find_dashboard_session(hash_session_id(first)) is None
    assert await storage.find_dashboard_session(hash_session_id(second)) is not None


async def test_revoking_a_key_signs_out_its_sessions(
    api: httpx.AsyncClient, browser: httpx.AsyncClient, storage: Storage
) -> None:
    tenant_id, key = await _tenant_with_key(api)
    session_id = await _sign_in(browser, key["key"])
    webhooks = tenant_url(tenant_id, "webhooks")
    assert (await browser.get(webhooks)).status_code == 200

    revoked = await api.delete(f"/v1/tenants/{tenant_id}/api-keys/{key['id']}")
    assert revoked.status_code == 204
    assert await storage.find_dashboard_session(hash_session_id(session_id)) is None
    _sent_to_signin(await browser.get(webhooks), "expired")


async def test_deleting_the_tenant_ends_its_sessions(
    api: httpx.AsyncClient, browser: httpx.AsyncClient, storage: Storage
) -> None:
    tenant_id, key = await _tenant_with_key(api)
    session_id = await _sign_in(browser, key["key"])
    assert (await api.delete(f"/v1/tenants/{tenant_id}")).status_code == 204
    assert await storage.find_dashboard_session(hash_session_id(session_id)) is None
    _sent_to_signin(await browser.get(tenant_url(tenant_id, "webhooks")), "expired")


async def test_changing_the_configured_admin_key_ends_admin_sessions(
    api: httpx.AsyncClient, browser: httpx.AsyncClient, settings: Settings, storage: Storage
) -> None:
    session_id = await _sign_in(browser, ADMIN_KEY)
    assert (await browser.get("/tenants")).status_code == 200
    stored = await storage.find_dashboard_session(hash_session_id(session_id))
    assert stored is not None and stored.is_admin and stored.api_key_id is None
    # The row binds the key without holding anything to test guesses of it against.
    assert stored.admin_key_fingerprint not in (None, hash_api_key(ADMIN_KEY))

    changed = settings.model_copy(update={"admin_key": "hw_admin_the-operator-changed-it-0123"})
    async with _browser(changed, storage) as restarted:
        restarted.cookies.set(SESSION_COOKIE, session_id)
        _sent_to_signin(await restarted.get("/tenants"), "revoked")
    assert await storage.find_dashboard_session(hash_session_id(session_id)) is None
    # Changing it back does not bring the session back either.
    _sent_to_signin(await browser.get("/tenants"), "expired")


async def test_the_cookie_holds_a_session_id_not_the_key(
    api: httpx.AsyncClient, browser: httpx.AsyncClient, storage: Storage
) -> None:
    _, key = await _tenant_with_key(api)
    session_id = await _sign_in(browser, key["key"])
    assert key["key"] not in session_id and key["prefix"] not in session_id
    assert key["key"][:8] not in session_id
    stored = await storage.find_dashboard_session(hash_session_id(session_id))
    assert stored is not None
    assert stored.kind == SESSION_KIND_KEY and stored.api_key_id == key["id"]
    # The database has the id's hash only, and nothing of the key.
    async with storage.read() as conn:
        row = (await conn.execute(sa.select(dashboard_sessions))).one()
    values = {str(v) for v in row}
    assert session_id not in values
    assert not any(key["key"] in v or hash_api_key(key["key"]) in v for v in values)


async def test_an_expired_session_is_refused_and_deleted(
    api: httpx.AsyncClient, browser: httpx.AsyncClient, storage: Storage
) -> None:
    tenant_id, key = await _tenant_with_key(api)
    session_id = await _sign_in(browser, key["key"])
    stored = await storage.find_dashboard_session(hash_session_id(session_id))
    assert stored is not None
    lifetime = stored.expires_at - stored.created_at
    assert lifetime == timedelta(seconds=SESSION_MAX_AGE_SECONDS)
    async with storage.write() as conn:
        await conn.execute(
            sa.update(dashboard_sessions).values(
                expires_at=datetime.now(UTC) - timedelta(seconds=1)
            )
        )
    _sent_to_signin(await browser.get(tenant_url(tenant_id, "webhooks")), "expired")
    assert await storage.find_dashboard_session(hash_session_id(session_id)) is None


async def test_csrf_is_still_enforced_with_server_side_sessions(
    api: httpx.AsyncClient, browser: httpx.AsyncClient, settings: Settings, storage: Storage
) -> None:
    tenant_id, key = await _tenant_with_key(api)
    refused_signin = await browser.post("/signin", data={"api_key": key["key"]})
    assert refused_signin.status_code == 403
    session_id = await _sign_in(browser, key["key"])
    webhooks = tenant_url(tenant_id, "webhooks")
    form = {"name": "Forged", "url": "https://x.example/h", "all_events": "1", "active": "1"}
    for forged in (form, {**form, "csrf_token": "not-the-token"}):
        response = await browser.post(webhooks, data=forged)
        assert response.status_code == 403 and "security token" in response.text
    assert (await browser.post("/signout")).status_code == 403
    # The refused sign-out ended nothing; another session's token is no good either.
    assert await storage.find_dashboard_session(hash_session_id(session_id)) is not None
    async with _browser(settings, storage) as other:
        await _sign_in(other, key["key"])
        foreign_token = await _csrf_token(other, webhooks)
    response = await browser.post(webhooks, data={**form, "csrf_token": foreign_token})
    assert response.status_code == 403
    token = await _csrf_token(browser, webhooks)
    assert (await browser.post("/signout", data={"csrf_token": token})).status_code == 303


def _session(**fields: object) -> DashboardSession:
    values: dict[str, object] = {
        "id_hash": "h",
        "kind": SESSION_KIND_KEY,
        "api_key_id": None,
        "tenant_id": None,
        "is_admin": False,
        "admin_key_fingerprint": None,
        "csrf_token": "c",
        "created_at": NOW,
        "expires_at": NOW + timedelta(hours=1),
    }
    values.update(fields)
    return DashboardSession(**values)  # type: ignore[arg-type]


SESSION_ID = "the-session-id"
CONFIGURED = "hw_admin_configured"


@pytest.mark.parametrize(
    ("session", "configured", "expected"),
    [
        # A tenant key's session acts for its tenant, whatever the admin key.
        (_session(tenant_id="acme", api_key_id="key_1"), CONFIGURED, Principal("acme", "key_1")),
        # A session of another kind may have no key.
        (_session(tenant_id="acme", kind="portal"), None, Principal("acme")),
        (_session(), None, None),
        # The configured admin key: only while it is still the configured one.
        (
            _session(
                is_admin=True, admin_key_fingerprint=admin_key_fingerprint(SESSION_ID, CONFIGURED)
            ),
            CONFIGURED,
            ADMIN,
        ),
        (
            _session(
                is_admin=True, admin_key_fingerprint=admin_key_fingerprint(SESSION_ID, CONFIGURED)
            ),
            "hw_admin_another",
            None,
        ),
        (
            _session(
                is_admin=True, admin_key_fingerprint=admin_key_fingerprint(SESSION_ID, CONFIGURED)
            ),
            None,
            None,
        ),
        (
            _session(
                is_admin=True, admin_key_fingerprint=admin_key_fingerprint("other-id", CONFIGURED)
            ),
            CONFIGURED,
            None,
        ),
        # A stored (generated) admin key stops counting once one is configured.
        (_session(is_admin=True, api_key_id="key_admin"), None, Principal(None, "key_admin")),
        (_session(is_admin=True, api_key_id="key_admin"), CONFIGURED, None),
        (_session(is_admin=True), None, None),
    ],
)
def test_who_a_session_acts_for(
    session: DashboardSession, configured: str | None, expected: Principal | None
) -> None:
    assert session_principal(session, SESSION_ID, configured) == expected


def test_session_ids_are_stored_as_hashes_and_fingerprints_differ_per_session() -> None:
    assert hash_session_id("abc") != "abc" and len(hash_session_id("abc")) == 64
    assert admin_key_fingerprint("s1", CONFIGURED) != admin_key_fingerprint("s2", CONFIGURED)
    assert CONFIGURED not in admin_key_fingerprint("s1", CONFIGURED)


# --- pure pieces ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/t/acme/webhooks?result=failed", "/t/acme/webhooks?result=failed"),
        (None, "/"),
        ("", "/"),
        ("https://evil.example", "/"),
        ("//evil.example", "/"),
        ("/\\evil.example", "/"),
        ("/\t/evil.example", "/"),
        ("/\n/evil.example", "/"),
        ("javascript:alert(1)", "/"),
    ],
)
def test_only_paths_on_this_site_are_returned_to(target: str | None, expected: str) -> None:
    assert safe_next(target) == expected


def test_the_webhook_form_maps_to_the_api_fields() -> None:
    form = FormData(
        [
            ("name", " Mailer "),
            ("url", "https://x.example/h"),
            ("token", ""),
            ("events", "license.created"),
            ("events", "license.expired"),
            ("active", "1"),
            ("signature_scheme", "standard"),
        ]
    )
    assert webhook_fields(form, with_token=True) == {
        "name": "Mailer",
        "url": "https://x.example/h",
        "token": None,
        "events": ["license.created", "license.expired"],
        "active": True,
        "signature_scheme": "standard",
    }
    everything = FormData([("all_events", "1"), ("events", "license.created")])
    fields = webhook_fields(everything, with_token=False)
    assert fields["events"] == ["*"]
    assert fields["active"] is False
    assert "token" not in fields
    assert "signature_scheme" not in fields, "left as it is when the form does not say"


def test_validation_errors_are_keyed_by_field_with_the_apis_messages() -> None:
    with pytest.raises(Invalid) as caught:
        parse_input(WebhookCreate, {"name": "n", "url": "ftp://x", "events": []})
    errors = form_errors(caught.value, "form")
    assert errors["url"] == "the URL must be absolute and start with http:// or https://"
    # The form names its own control instead of the API's ["*"].
    assert errors["events"] == "choose at least one event, or All events"
    nested = Invalid.one("data.customer.email", "bad")
    assert form_errors(nested, "event") == {"data": "bad"}
    assert form_errors(Conflict("conflict"), "event") == {"event": "conflict"}


def test_json_fields_must_hold_an_object() -> None:
    assert json_object('{"a": 1}', "data") == {"a": 1}
    assert json_object("  ", "schema", empty_is_none=True) is None
    for text in ("", "[1]", "{nope"):
        with pytest.raises(Invalid) as caught:
            json_object(text, "data")
        assert caught.value.errors and caught.value.errors[0].field == "data"


def test_times_from_filter_forms_are_utc() -> None:
    assert parse_moment("2024-05-01T10:00:00.000Z", "ignored", "since") == datetime(
        2024, 5, 1, 10, tzinfo=UTC
    )
    # Without the page's script the visible field is read as UTC.
    assert parse_moment("", "2024-05-01T10:30", "since") == datetime(2024, 5, 1, 10, 30, tzinfo=UTC)
    assert parse_moment("", "", "since") is None
    with pytest.raises(Invalid):
        parse_moment("yesterday", "", "since")


def _pending(due: datetime | None) -> Delivery:
    return Delivery(
        id="dlv_1",
        tenant_id="t",
        event_id="e",
        webhook_id="w",
        event_type="license.created",
        state=DeliveryState.PENDING,
        attempts=1,
        next_attempt_at=due,
        next_trigger=Trigger.SCHEDULED,
        retry_reason=None,
        last_status_code=None,
        created_at=NOW,
        updated_at=NOW,
    )


def test_pages_poll_often_while_a_delivery_may_be_in_flight() -> None:
    assert poll_seconds([], 60, NOW) == IDLE_POLL_SECONDS
    # Due now, or leased (due within one lease): it may be sending right now.
    assert poll_seconds([_pending(NOW)], 60, NOW) == POLL_MIN_SECONDS
    assert poll_seconds([_pending(NOW + timedelta(seconds=59))], 60, NOW) == POLL_MIN_SECONDS
    # A retry scheduled hours away: no need to ask every two seconds.
    assert poll_seconds([_pending(NOW + timedelta(hours=2))], 60, NOW) == IDLE_POLL_SECONDS


def test_times_and_urls_for_templates() -> None:
    moment = datetime(2024, 5, 1, 12, 0, 1, 234567, tzinfo=UTC)
    assert utc_iso(moment) == "2024-05-01T12:00:01.234Z"
    assert utc_text(moment) == "2024-05-01 12:00:01 UTC"
    assert utc_text(moment, precise=True) == "2024-05-01 12:00:01.234 UTC"
    assert tenant_url("a/b c", "webhooks", "wh_1") == "/t/a%2Fb%20c/webhooks/wh_1"
