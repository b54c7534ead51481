"""The dashboard's pure pieces: sealed sessions, redirects after sign-in, forms, polling."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.fernet import Fernet
from pydantic import ValidationError
from starlette.datastructures import FormData

from hookwire.api.models import WebhookCreate
from hookwire.crypto import TokenCipher
from hookwire.dashboard.forms import (
    field_errors,
    json_object,
    parse_moment,
    problem_errors,
    webhook_fields,
)
from hookwire.dashboard.lookups import IDLE_POLL_SECONDS, POLL_MIN_SECONDS, poll_seconds
from hookwire.dashboard.render import tenant_url, utc_iso, utc_text
from hookwire.dashboard.session import (
    SESSION_MAX_AGE_SECONDS,
    SessionData,
    open_session,
    safe_next,
    seal_session,
)
from hookwire.errors import Problem
from hookwire.storage.records import Delivery

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def cipher() -> TokenCipher:
    return TokenCipher(Fernet.generate_key())


def test_a_sealed_session_opens_again_until_it_expires(cipher: TokenCipher) -> None:
    data = SessionData(api_key="hw_tenant_abc", csrf_token="csrf-123")
    sealed = seal_session(cipher, data, NOW)
    assert "hw_tenant_abc" not in sealed
    assert open_session(cipher, sealed, NOW + timedelta(hours=1)) == data
    late = NOW + timedelta(seconds=SESSION_MAX_AGE_SECONDS + 1)
    assert open_session(cipher, sealed, late) is None
    assert open_session(cipher, sealed, NOW - timedelta(hours=1)) is None


def test_forged_or_foreign_cookies_do_not_open(cipher: TokenCipher) -> None:
    sealed = seal_session(cipher, SessionData("k", "c"), NOW)
    other = TokenCipher(Fernet.generate_key())
    assert open_session(other, sealed, NOW) is None
    assert open_session(cipher, sealed[:-4] + "AAAA", NOW) is None
    assert open_session(cipher, "not a cookie", NOW) is None
    assert open_session(cipher, "caf\u00e9", NOW) is None
    # A webhook token encrypted with the same key is no session.
    assert open_session(cipher, cipher.encrypt("whsec_token"), NOW) is None
    unsigned_purpose = cipher.encrypt(json.dumps({"k": "k", "c": "c", "t": 0}))
    assert open_session(cipher, unsigned_purpose, NOW) is None


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
        ]
    )
    assert webhook_fields(form, with_token=True) == {
        "name": "Mailer",
        "url": "https://x.example/h",
        "token": None,
        "events": ["license.created", "license.expired"],
        "active": True,
    }
    everything = FormData([("all_events", "1"), ("events", "license.created")])
    fields = webhook_fields(everything, with_token=False)
    assert fields["events"] == ["*"]
    assert fields["active"] is False
    assert "token" not in fields


def test_validation_errors_are_keyed_by_field_with_the_apis_messages() -> None:
    with pytest.raises(ValidationError) as caught:
        WebhookCreate.model_validate({"name": "n", "url": "ftp://x", "events": []})
    errors = field_errors(caught.value)
    assert errors["url"] == "the URL must be absolute and start with http:// or https://"
    assert errors["events"] == 'name at least one event type, or ["*"] for all'
    problem = Problem(422, "x", errors=[{"field": "data.customer.email", "message": "bad"}])
    assert problem_errors(problem, "event") == {"data": "bad"}
    assert problem_errors(Problem(409, "conflict"), "event") == {"event": "conflict"}


def test_json_fields_must_hold_an_object() -> None:
    assert json_object('{"a": 1}', "data") == {"a": 1}
    assert json_object("  ", "schema", empty_is_none=True) is None
    for text in ("", "[1]", "{nope"):
        with pytest.raises(Problem) as caught:
            json_object(text, "data")
        assert caught.value.errors and caught.value.errors[0]["field"] == "data"


def test_times_from_filter_forms_are_utc() -> None:
    assert parse_moment("2024-05-01T10:00:00.000Z", "ignored", "since") == datetime(
        2024, 5, 1, 10, tzinfo=UTC
    )
    # Without the page's script the visible field is read as UTC.
    assert parse_moment("", "2024-05-01T10:30", "since") == datetime(2024, 5, 1, 10, 30, tzinfo=UTC)
    assert parse_moment("", "", "since") is None
    with pytest.raises(Problem):
        parse_moment("yesterday", "", "since")


def _pending(due: datetime | None) -> Delivery:
    return Delivery(
        id="dlv_1",
        tenant_id="t",
        event_id="e",
        webhook_id="w",
        event_type="license.created",
        state="pending",
        attempts=1,
        next_attempt_at=due,
        next_trigger="scheduled",
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
