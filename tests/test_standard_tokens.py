"""A Standard Webhooks webhook's token is always one the receivers' libraries take as given."""

from __future__ import annotations

import time

import httpx
import pytest
import standardwebhooks

from hookwire.signing import sign_standard

BODY = b'{"event":"license.created","data":{},"triggeredAt":"2024-05-01T12:00:00.000000Z"}'


def verifies(token: str, signed_with: str) -> bool:
    """Whether ``standardwebhooks``, given ``token``, accepts what ``signed_with`` signed."""
    now = int(time.time())
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(now),
        "webhook-signature": sign_standard(signed_with, "msg_1", now, BODY),
    }
    try:
        standardwebhooks.Webhook(token).verify(BODY, headers)
    except Exception:
        return False
    return True


@pytest.fixture
async def tenant(api: httpx.AsyncClient) -> str:
    assert (await api.post("/v1/event-types", json={"name": "license.created"})).is_success
    assert (await api.post("/v1/tenants", json={"id": "acme", "name": "Acme"})).is_success
    return "acme"


async def test_a_chosen_token_is_stored_in_whsec_form_with_the_same_key(
    api: httpx.AsyncClient, tenant: str
) -> None:
    chosen = "my-own-secret-token-123"
    created = await api.post(
        f"/v1/tenants/{tenant}/webhooks",
        json={
            "name": "std",
            "url": "https://example.com/h",
            "events": ["*"],
            "signatureScheme": "standard",
            "token": chosen,
        },
    )
    assert created.status_code == 201, created.text
    token = created.json()["token"]
    assert token.startswith("whsec_")
    # The library takes the token as shown, and the key is the chosen one's bytes:
    # what was signed with the chosen token before verifies with the shown one.
    assert verifies(token, token) and verifies(token, chosen)
    # Given the chosen token as it was, the library cannot verify a thing.
    assert not verifies(chosen, chosen)


async def test_switching_to_standard_converts_the_token_and_keeps_its_key(
    api: httpx.AsyncClient, tenant: str
) -> None:
    created = await api.post(
        f"/v1/tenants/{tenant}/webhooks",
        json={"name": "h", "url": "https://example.com/h", "events": ["*"]},
    )
    hook = created.json()
    assert not hook["token"].startswith("whsec_")
    path = f"/v1/tenants/{tenant}/webhooks/{hook['id']}"
    switched = await api.patch(path, json={"signatureScheme": "standard"})
    assert switched.status_code == 200, switched.text
    token = switched.json()["token"]
    assert token.startswith("whsec_") and verifies(token, hook["token"])
    chosen = await api.patch(path, json={"token": "another-chosen-secret-42"})
    assert chosen.json()["token"].startswith("whsec_")
    assert verifies(chosen.json()["token"], "another-chosen-secret-42")


async def test_generated_and_rotated_standard_tokens_are_whsec(
    api: httpx.AsyncClient, tenant: str
) -> None:
    created = await api.post(
        f"/v1/tenants/{tenant}/webhooks",
        json={"name": "g", "url": "https://example.com/g", "signatureScheme": "standard"},
    )
    assert created.status_code == 201, created.text
    assert created.json()["token"].startswith("whsec_")
    path = f"/v1/tenants/{tenant}/webhooks/{created.json()['id']}/rotate-token"
    rotated = await api.post(path)
    assert rotated.status_code == 200, rotated.text
    token = rotated.json()["token"]
    assert token.startswith("whsec_") and verifies(token, token)
