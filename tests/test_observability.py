"""What an operator watches: /metrics (queue, webhooks, requests) and JSON logs."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from hookwire.app import create_app
from hookwire.config import Settings
from hookwire.delivery import Worker
from hookwire.errors import Unavailable
from hookwire.logformat import JsonFormatter
from hookwire.metrics import Metrics
from hookwire.storage import Storage
from tests.conftest import ADMIN_KEY, SECRET_KEY
from tests.faults import serve_process
from tests.receivers import Receiver, hang, make_webhook, ok, send_event

METRICS_TOKEN = "metrics-token-0123456789abcdef"
WAIT_SECONDS = 20.0


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a Prometheus text answer, by name and labels."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(text: str, name: str, **labels: str) -> float:
    return samples(text)[(name, frozenset(labels.items()))]


async def test_the_queue_and_the_webhooks_are_counted_at_scrape_time(
    api: httpx.AsyncClient, storage: Storage
) -> None:
    await make_webhook(storage, "http://127.0.0.1:9/hook")
    await make_webhook(storage, "http://127.0.0.1:9/other", events=["license.expired"])
    for _ in range(3):
        await send_event(storage)
    # One of them leased to a worker: pending, but not waiting for one.
    claim = await storage.claim_due_deliveries("w-1", 1, 60)
    assert len(claim.deliveries) == 1

    answer = await api.get("/metrics")
    assert answer.status_code == 200
    text = answer.text
    assert value(text, "hookwire_deliveries_pending", due="now") == 2
    assert value(text, "hookwire_deliveries_pending", due="later") == 1
    assert value(text, "hookwire_oldest_due_delivery_age_seconds") >= 0
    assert value(text, "hookwire_webhooks", status="healthy") == 2
    assert value(text, "hookwire_webhooks", status="suspended") == 0
    assert value(text, "hookwire_database_up") == 1
    # No label names a webhook, a tenant or an id.
    assert "wh_" not in text and "acme" not in text


async def test_a_database_failure_answers_the_scrape_with_database_up_0(
    api: httpx.AsyncClient, storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def unavailable() -> None:
        raise Unavailable("the database did not answer within 5 s")

    monkeypatch.setattr(storage, "queue_stats", unavailable)
    answer = await api.get("/metrics")
    assert answer.status_code == 200
    assert value(answer.text, "hookwire_database_up") == 0
    assert "Traceback" not in answer.text


async def test_request_durations_are_labelled_by_route_template(
    api: httpx.AsyncClient, storage: Storage
) -> None:
    await make_webhook(storage, "http://127.0.0.1:9/hook")
    body = {"event": "license.created", "data": {"key": "K"}}
    assert (await api.post("/v1/tenants/acme/events", json=body)).status_code == 202
    assert (await api.get("/no/such/page/123")).status_code == 404
    text = (await api.get("/metrics")).text
    count = "hookwire_http_request_duration_seconds_count"
    route = "/v1/tenants/{tenant_id}/events"
    assert value(text, count, route=route, method="POST", status="202") == 1
    assert value(text, count, route="unmatched", method="GET", status="404") == 1
    # The raw paths never become labels (a sample's value may well contain "123").
    routes = set(re.findall(r'route="([^"]*)"', text))
    assert routes and not any("acme" in r or "123" in r for r in routes), routes


@pytest.fixture
async def guarded(settings: Settings, storage: Storage) -> httpx.AsyncClient:
    app = create_app(settings.model_copy(update={"metrics_token": METRICS_TOKEN}), storage)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def test_a_metrics_token_guards_the_scrape(guarded: httpx.AsyncClient) -> None:
    async with guarded:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": METRICS_TOKEN}):
            refused = await guarded.get("/metrics", headers=headers)
            assert refused.status_code == 401
            assert refused.headers["content-type"] == "application/problem+json"
            assert "HOOKWIRE_METRICS_TOKEN" in refused.json()["detail"]
        allowed = await guarded.get(
            "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}
        )
        assert allowed.status_code == 200
        assert "hookwire_database_up 1.0" in allowed.text
        # Liveness and readiness stay open.
        assert (await guarded.get("/healthz")).status_code == 200


async def test_requests_in_flight_are_counted_while_they_wait(
    storage: Storage, settings: Settings
) -> None:
    metrics = Metrics()
    gauge = metrics.requests_in_flight
    async with Receiver(hang()) as receiver:
        await make_webhook(storage, receiver.url)
        await send_event(storage)
        await send_event(storage)
        async with Worker(storage, settings, metrics=metrics) as worker:
            delivering = asyncio.create_task(worker.run_until_idle())
            await receiver.wait_for(lambda r: r.in_progress == 2)
            assert gauge._value.get() == 2
            receiver.release.set()
            await delivering
    assert gauge._value.get() == 0


def test_json_lines_carry_ids_and_drop_query_strings() -> None:
    formatter = JsonFormatter()
    record = logging.LogRecord("hookwire.worker", logging.WARNING, "f", 1, "x %s", ("y",), None)
    record.delivery_id, record.webhook_id = "dlv_1", "wh_1"
    line = json.loads(formatter.format(record))
    assert line["message"] == "x y" and line["level"] == "warning"
    assert (line["delivery_id"], line["webhook_id"]) == ("dlv_1", "wh_1")
    assert "event_id" not in line
    access = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        "f",
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5", "GET", "/portal?token=secret-in-query", "1.1", 200),
        None,
    )
    assert "secret-in-query" not in formatter.format(access)


async def test_serve_logs_json_lines_with_ids_and_no_secret(
    settings: Settings, tmp_path: Path
) -> None:
    token = "whsec-like-token-for-the-log-test-0123456789"
    header_value = "custom-header-secret-value-31337"
    env = {
        "HOOKWIRE_DATABASE_URL": settings.database_url,
        "HOOKWIRE_ADMIN_KEY": ADMIN_KEY,
        "HOOKWIRE_SECRET_KEY": SECRET_KEY,
        "HOOKWIRE_ALLOW_PRIVATE_NETWORKS": "true",
        "HOOKWIRE_RETRY_SCHEDULE": "0.05,0.05",
        "HOOKWIRE_RETRY_JITTER": "0",
        "HOOKWIRE_METRICS_TOKEN": METRICS_TOKEN,
        "HOOKWIRE_LOG_FORMAT": "json",
    }
    log_path = tmp_path / "serve.log"
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    async with (
        Receiver(ok(500, body="receiver-body")) as receiver,
        serve_process(env, tmp_path) as served,
        httpx.AsyncClient(base_url=served.url, headers=headers) as client,
    ):
        await client.post("/v1/event-types", json={"name": "license.created"})
        await client.post("/v1/tenants", json={"id": "acme", "name": "Acme"})
        created = await client.post(
            "/v1/tenants/acme/webhooks",
            json={
                "name": "Failing",
                "url": receiver.url,
                "token": token,
                "headers": {"X-Api-Key": header_value},
                "events": ["license.created"],
            },
        )
        assert created.status_code == 201, created.text
        webhook_id = created.json()["id"]
        payload_marker = "payload-marker-K-77"
        sent = await client.post(
            "/v1/tenants/acme/events",
            json={"event": "license.created", "data": {"key": payload_marker}},
        )
        event_id = sent.json()["id"]
        assert (await client.get("/metrics")).status_code == 401  # the admin key is no token

        deadline = time.monotonic() + WAIT_SECONDS
        while '"delivery_id"' not in log_path.read_text():
            assert time.monotonic() < deadline, log_path.read_text()
            await asyncio.sleep(0.05)

    output = log_path.read_text().splitlines()
    lines = [json.loads(line) for line in output]  # every line is a JSON object
    assert all({"ts", "level", "logger", "message"} <= set(line) for line in lines)
    [failed] = [line for line in lines if "delivery_id" in line]
    assert failed["event_id"] == event_id
    assert failed["webhook_id"] == webhook_id
    assert failed["tenant_id"] == "acme"
    assert "failed for good" in failed["message"]
    assert any("hookwire" in line["message"] and "http://" in line["message"] for line in lines)
    text = "\n".join(output)
    for secret in (token, header_value, ADMIN_KEY, METRICS_TOKEN, SECRET_KEY, payload_marker):
        assert secret not in text
    assert "receiver-body" not in text
