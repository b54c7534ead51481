"""Webhook body formats: Slack and Discord messages, rendered, sent, signed and logged."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import standardwebhooks

from hookwire.config import Settings
from hookwire.delivery import Worker
from hookwire.formats import (
    DISCORD_CONTENT_LIMIT,
    SLACK_TEXT_LIMIT,
    chat_message,
    key_fields,
    render_body,
    slack_unescape,
    text_length,
)
from hookwire.listen import format_delivery
from hookwire.payload import build_payload
from hookwire.signing import generate_token, standard_secret
from hookwire.storage import Storage
from tests.receivers import Receiver, quick

TRIGGERED = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
FENCE = "```"


def payload(data: dict[str, Any], event: str = "license.created") -> bytes:
    return build_payload(event, data, TRIGGERED)


def slack(data: dict[str, Any], label: str = "Acme Inc") -> str:
    message = json.loads(render_body("slack", payload(data), label))
    assert list(message) == ["text"] and isinstance(message["text"], str)
    text: str = message["text"]
    return text


def discord(data: dict[str, Any], label: str = "Acme Inc") -> str:
    message = json.loads(render_body("discord", payload(data), label))
    assert message["allowed_mentions"] == {"parse": []}
    assert set(message) == {"content", "allowed_mentions"}
    content: str = message["content"]
    return content


def block_of(text: str) -> str:
    """The json code block's contents (the message has exactly one block)."""
    assert text.count(FENCE) == 2, text
    return text.split(FENCE + "json\n", 1)[1].split("\n" + FENCE, 1)[0]


# --- rendering ---------------------------------------------------------------------


def test_the_hookwire_format_sends_the_payload_itself() -> None:
    body = payload({"key": "K-1"})
    assert render_body("hookwire", body, "Acme Inc") is body


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown body format 'teams'"):
        render_body("teams", payload({"key": "K-1"}), "Acme Inc")


def test_slack_is_a_readable_line_then_the_data_as_a_json_block() -> None:
    data = {"key": "D08B53-C564F8", "plan": "pro", "seats": 5, "owner": {"email": "a@b.c"}}
    text = slack(data)
    line, rest = text.split("\n", 1)
    assert line == "*license.created* for *Acme Inc* — key: D08B53-C564F8, plan: pro, seats: 5"
    assert rest.startswith(FENCE + "json\n") and rest.endswith("\n" + FENCE)
    assert json.loads(slack_unescape(block_of(text))) == data


def test_discord_is_the_same_message_in_content_with_mentions_disabled() -> None:
    data = {"key": "D08B53-C564F8", "plan": "pro"}
    content = discord(data)
    line = content.split("\n", 1)[0]
    assert line == "**license.created** for **Acme Inc** — key: D08B53-C564F8, plan: pro"
    assert json.loads(block_of(content)) == data


def test_key_fields_are_the_first_three_scalars_in_the_events_order() -> None:
    data = {
        "customer": {"id": 7},
        "tags": ["a"],
        "note": None,
        "renewed": True,
        "key": "K-1",
        "price": 12.5,
        "plan": "not shown: the fourth scalar",
    }
    assert key_fields(data) == [("renewed", "true"), ("key", "K-1"), ("price", "12.5")]
    # The same data gives the same message every time (each retry sends the same bytes).
    assert render_body("slack", payload(data), "A") == render_body("slack", payload(data), "A")


def test_key_values_stay_on_one_short_line() -> None:
    [(name, value)] = key_fields({"comment": "line one\n\tline two\r\n" + "x" * 200})
    assert name == "comment"
    assert value.startswith("line one line two xxx") and value.endswith("…")
    assert len(value) == 60
    assert "\n" not in slack({"comment": "a\nb"}).split(FENCE)[0].rstrip("\n")


def test_slack_escapes_what_mrkdwn_would_turn_into_a_link_or_a_ping() -> None:
    data = {"note": "<!channel> & <https://evil.example|click here>"}
    text = slack(data, label="Tom & Jerry <Ltd>")
    assert "<" not in text and ">" not in text
    assert re.sub(r"&(amp|lt|gt);", "", text).count("&") == 0
    assert text.startswith(
        "*license.created* for *Tom &amp; Jerry &lt;Ltd&gt;* — note: &lt;!channel&gt;"
    )
    assert json.loads(slack_unescape(block_of(text))) == data


def test_discord_escapes_markdown_in_the_line_and_never_pings() -> None:
    data = {"who": "@everyone **now** <@123> [x](https://evil.example)"}
    content = discord(data, label="__Acme__")
    line = content.split("\n", 1)[0]
    assert line == (
        r"**license.created** for **\_\_Acme\_\_** — who: @everyone \*\*now\*\* \<@123> "
        r"\[x\](https://evil.example)"
    )
    assert json.loads(block_of(content)) == data  # the block is not escaped: it is code


@pytest.mark.parametrize("render", [slack, discord])
def test_a_code_fence_in_the_data_cannot_close_the_block(render: Any) -> None:
    data = {"note": "```\n@everyone", "`key`": "``` done ```"}
    text = render(data)
    assert text.count(FENCE) == 2
    inside = block_of(text)
    assert "`" not in inside
    assert json.loads(slack_unescape(inside)) == data  # \u0060 is JSON's backtick


@pytest.mark.parametrize(
    ("render", "limit"), [(slack, SLACK_TEXT_LIMIT), (discord, DISCORD_CONTENT_LIMIT)]
)
def test_long_data_is_cut_within_the_limit_and_says_so(render: Any, limit: int) -> None:
    data = {f"field_{i:04}": f"value & more <{i}> 🎟" for i in range(1500)}
    text = render(data)
    assert text_length(text) <= limit
    assert text.count(FENCE) == 2
    shown = text.split(FENCE + "json\n", 1)[1].split("\n…\n" + FENCE, 1)[0]
    full = json.dumps(data, indent=2, ensure_ascii=False)
    if render is slack:
        assert (
            full.replace("&", "&amp;")
            .replace("<", "&lt;")
            .replace(">", "&gt;")
            .startswith(shown + "\n")
        )  # cut at a line
    else:
        assert full.startswith(shown + "\n")
    note = re.search(r"Data cut: the first ([\d,]+) of ([\d,]+) characters shown\.", text)
    assert note is not None
    assert int(note[1].replace(",", "")) == text_length(shown)
    assert int(note[1].replace(",", "")) < int(note[2].replace(",", ""))
    assert text.endswith(note[0] + ("_" if render is slack else "*"))


def test_one_long_value_is_cut_mid_line_but_never_mid_entity() -> None:
    for padding in range(6):
        text = slack({"blob": "x" * padding + "&" * 5000})
        assert text_length(text) <= SLACK_TEXT_LIMIT
        inside = text.split(FENCE + "json\n", 1)[1].split("\n…\n" + FENCE, 1)[0]
        assert re.fullmatch(r'\{\n  "blob": "x*(&amp;)*', inside), inside[-20:]


def test_characters_outside_the_bmp_count_twice_against_discords_limit() -> None:
    content = discord({"emoji": "🎟" * 3000})
    assert text_length(content) <= DISCORD_CONTENT_LIMIT
    assert len(content) < DISCORD_CONTENT_LIMIT  # fewer characters than UTF-16 units


def test_empty_data_is_just_the_line() -> None:
    assert slack({}) == "*license.created* for *Acme Inc*"
    assert discord({}, label="") == "**license.created**"


def test_chat_message_reads_a_body_back_as_a_person_sees_it() -> None:
    data = {"key": "K-1 & K-2"}
    slack_body = render_body("slack", payload(data), "Acme")
    discord_body = render_body("discord", payload(data), "Acme")
    assert chat_message(slack_body) == ("Slack", slack_unescape(json.loads(slack_body)["text"]))
    assert chat_message(slack_body)[1].startswith("*license.created* for *Acme* — key: K-1 & K-2")  # type: ignore[index]
    assert chat_message(discord_body) == ("Discord", json.loads(discord_body)["content"])
    assert chat_message(payload(data)) is None
    assert chat_message(b"not json") is None
    assert chat_message(b'["text"]') is None


def test_hookwire_listen_prints_a_chat_body_as_its_message() -> None:
    body = render_body("slack", payload({"key": "K-1", "plan": "pro"}), "Acme & Co")
    printed = format_delivery(TRIGGERED, "POST", "/slack", {}, body, "valid")
    lines = printed.splitlines()
    assert lines[4] == "(Slack message)"
    assert lines[5] == "*license.created* for *Acme & Co* — key: K-1, plan: pro"
    assert lines[6] == FENCE + "json"
    assert lines[-1] == "signature: valid"


# --- end to end: the API, the worker, real receivers, the event log ----------------------


def own_signature(token: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(token.encode(), body, hashlib.sha256).digest()).decode()


async def create(api: httpx.AsyncClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await api.post(path, json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def tenant_named(api: httpx.AsyncClient, name: str) -> str:
    """The catalogue's license.created and a tenant called ``name``: its API path."""
    await create(api, "/v1/event-types", {"name": "license.created", "description": ""})
    tenant = await create(api, "/v1/tenants", {"name": name})
    return f"/v1/tenants/{tenant['id']}"


async def deliver(storage: Storage, settings: Settings) -> None:
    async with Worker(storage, settings) as worker:
        await worker.run_until_idle()


async def test_slack_and_discord_webhooks_get_their_message_signed_and_logged(
    api: httpx.AsyncClient, storage: Storage, settings: Settings
) -> None:
    base = await tenant_named(api, "Acme & Co")
    standard_token = generate_token("standard")
    async with Receiver() as to_slack, Receiver() as to_discord, Receiver() as to_json:
        slack_hook = await create(
            api,
            base + "/webhooks",
            {"name": "Slack", "url": to_slack.url, "events": ["*"], "format": "slack"},
        )
        discord_hook = await create(
            api,
            base + "/webhooks",
            {
                "name": "Discord",
                "url": to_discord.url,
                "events": ["license.created"],
                "format": "discord",
                "signatureScheme": "standard",
                "token": standard_token,
            },
        )
        json_hook = await create(
            api, base + "/webhooks", {"name": "JSON", "url": to_json.url, "events": ["*"]}
        )
        assert (slack_hook["format"], discord_hook["format"], json_hook["format"]) == (
            "slack",
            "discord",
            "hookwire",
        )
        data = {"key": "D08B53-C564F8", "plan": "pro", "note": "@everyone <!here>"}
        response = await api.post(base + "/events", json={"event": "license.created", "data": data})
        assert response.status_code == 202, response.text
        event_id = response.json()["id"]
        await deliver(storage, quick(settings))

    [to_slack_request] = to_slack.requests
    message = json.loads(to_slack_request.body)
    assert list(message) == ["text"] and isinstance(message["text"], str)
    assert message["text"].startswith(
        "*license.created* for *Acme &amp; Co* — key: D08B53-C564F8, plan: pro, "
        "note: @everyone &lt;!here&gt;\n```json\n"
    )
    assert to_slack_request.headers["Webhook-Signature"] == own_signature(
        slack_hook["token"], to_slack_request.body
    )

    [to_discord_request] = to_discord.requests
    message = json.loads(to_discord_request.body)
    assert isinstance(message["content"], str) and len(message["content"]) <= 2000
    assert message["allowed_mentions"] == {"parse": []}
    assert json.loads(block_of(message["content"])) == data
    verifier = standardwebhooks.Webhook(standard_secret(standard_token))
    assert verifier.verify(to_discord_request.body, to_discord_request.headers) is not None

    [to_json_request] = to_json.requests
    assert json.loads(to_json_request.body)["data"] == data

    # The event log shows each body exactly as sent; null where it is the payload.
    sent = {
        slack_hook["id"]: to_slack_request.body,
        discord_hook["id"]: to_discord_request.body,
    }
    event = (await api.get(f"{base}/events/{event_id}")).json()
    for delivery in event["deliveries"]:
        detail = (await api.get(f"{base}/deliveries/{delivery['id']}")).json()
        [entry] = detail["logs"]
        [listed] = (await api.get(f"{base}/webhooks/{delivery['webhookId']}/logs")).json()["data"]
        expected = sent.get(delivery["webhookId"])
        assert entry["requestBody"] == listed["requestBody"]
        if expected is None:
            assert entry["requestBody"] is None
        else:
            assert entry["requestBody"].encode() == expected


async def test_a_renamed_tenant_is_named_in_the_next_message(
    api: httpx.AsyncClient, storage: Storage, settings: Settings
) -> None:
    base = await tenant_named(api, "Old Name")
    async with Receiver() as receiver:
        await create(
            api,
            base + "/webhooks",
            {"name": "Slack", "url": receiver.url, "events": ["*"], "format": "slack"},
        )
        event = {"event": "license.created", "data": {"key": "K-1"}}
        async with Worker(storage, quick(settings)) as worker:
            assert (await api.post(base + "/events", json=event)).status_code == 202
            await worker.run_until_idle()
            renamed = await api.patch(base, json={"name": "New Name"})
            assert renamed.status_code == 200, renamed.text
            assert (await api.post(base + "/events", json=event)).status_code == 202
            await worker.run_until_idle()

    first, second = (json.loads(r.body)["text"] for r in receiver.requests)
    assert first.startswith("*license.created* for *Old Name* — key: K-1")
    assert second.startswith("*license.created* for *New Name* — key: K-1")


async def test_the_api_refuses_an_unknown_format_naming_the_choices(
    api: httpx.AsyncClient,
) -> None:
    tenant = await create(api, "/v1/tenants", {"name": "Acme"})
    response = await api.post(
        f"/v1/tenants/{tenant['id']}/webhooks",
        json={"name": "Teams", "url": "http://127.0.0.1:9/x", "events": ["*"], "format": "teams"},
    )
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    [error] = response.json()["errors"]
    assert error["field"] == "format"
    for choice in ("hookwire", "slack", "discord"):
        assert choice in error["message"]
    assert (await api.get(f"/v1/tenants/{tenant['id']}/webhooks")).json()["data"] == []
