"""Schemathesis fuzzes every API operation in-process, on both databases: no input gives a 5xx.

Generated strings include NUL and any other Unicode character; bodies and
parameters are both valid and invalid, and answers must match the OpenAPI
document. One app per database serves every operation in turn, starting from a
seeded tenant (a webhook, an event, a delivery, an API key, an event type with
a schema); half of the generated requests address those, so the code behind
the 404s is reached too, and what earlier operations created (tenants,
webhooks, events) fills the lists and their cursors for later ones. Seeded and
derandomized: every run sends the same requests.
"""

from __future__ import annotations

import asyncio
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import hypothesis
import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.python.asgi import get_client, shutdown_lifespans
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from hookwire.app import create_app
from hookwire.config import Settings
from tests.conftest import ADMIN_KEY, SECRET_KEY, _truncate

# Per operation and database: about 30 operations, so 1,200 requests in all.
FUZZ_EXAMPLES_PER_OPERATION = 20
FUZZ_SEED = 20240501
AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}
EVENT_TYPE = "license.created"
# Never contacted: the fuzzed app runs no delivery worker.
SEED_WEBHOOK_URL = "https://hooks.example.com/hookwire"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def _openapi_document() -> dict[str, Any]:
    # Building the app opens nothing; its storage is only opened on start-up.
    settings = Settings(
        admin_key=ADMIN_KEY,
        secret_key=SECRET_KEY,
        data_dir=Path(tempfile.gettempdir()),
        run_worker=False,
    )
    return create_app(settings).openapi()


CONFIG = schemathesis.Config.from_dict(
    {
        "seed": FUZZ_SEED,
        "generation": {
            "max-examples": FUZZ_EXAMPLES_PER_OPERATION,
            "deterministic": True,
            "allow-x00": True,
            "codec": "utf-8",
            "database": "none",
        },
        "phases": {"stateful": {"enabled": False}},
    }
)
SCHEMA = schemathesis.openapi.from_dict(_openapi_document(), config=CONFIG)


@dataclass(frozen=True)
class Seeded:
    """The fuzzed app and the ids of what was created in it before the run."""

    app: FastAPI
    path_ids: dict[str, str]


def _seed(app: FastAPI) -> dict[str, str]:
    """A tenant with one of everything; returns path parameter values that exist."""
    # Entering the client starts the app, which opens (and migrates) its storage.
    with get_client(cast(Any, app)) as client:

        def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
            response = client.post(path, json=body, headers=AUTH)
            assert response.status_code in (201, 202), response.text
            answer: dict[str, Any] = response.json()
            return answer

        schema = {"type": "object", "properties": {"key": {"type": "string", "pattern": "^K"}}}
        post("/v1/event-types", {"name": EVENT_TYPE, "schema": schema})
        post("/v1/tenants", {"id": "acme", "name": "Acme"})
        key = post("/v1/tenants/acme/api-keys", {"name": "ci"})
        webhook = post("/v1/tenants/acme/webhooks", {"name": "n", "url": SEED_WEBHOOK_URL})
        post("/v1/tenants/acme/events", {"event": EVENT_TYPE, "data": {"key": "K1"}, "id": "e-1"})
        event = client.get("/v1/tenants/acme/events/e-1", headers=AUTH).json()
    return {
        "tenant_id": "acme",
        "name": EVENT_TYPE,
        "key_id": key["id"],
        "webhook_id": webhook["id"],
        "event_id": event["id"],
        "delivery_id": event["deliveries"][0]["id"],
    }


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def seeded(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Seeded]:
    """The seeded app on each database (the backends of ``database_url``), for the whole module."""
    data_dir = tmp_path_factory.mktemp("fuzz")
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{data_dir / 'hookwire.db'}"  # migrated when the app starts
    else:
        url = request.getfixturevalue("pg_database")
        asyncio.run(_truncate(url))
    settings = Settings(
        database_url=url,
        data_dir=data_dir,
        admin_key=ADMIN_KEY,
        secret_key=SECRET_KEY,
        run_worker=False,
    )
    # Schemathesis runs the app on an event loop of its own, starting it on the
    # first request of each test and stopping it after the test (its pytest
    # plugin does), so the app opens its storage itself each time.
    app = create_app(settings)
    try:
        yield Seeded(app, _seed(app))
    finally:
        shutdown_lifespans()


@SCHEMA.parametrize()
@SCHEMA.given(address_seeded=st.booleans())
@hypothesis.settings(
    # Fixtures are shared by an operation's examples on purpose (see the module's docstring).
    suppress_health_check=[hypothesis.HealthCheck.function_scoped_fixture],
)
def test_no_request_gets_a_server_error(
    case: schemathesis.Case[Any], address_seeded: bool, seeded: Seeded
) -> None:
    if address_seeded:
        names = re.findall(r"{(\w+)}", case.operation.path)
        if case.method == "DELETE":
            names = names[:-1]  # what a DELETE removes: the seed must last the whole run
        for name in names:
            if name in seeded.path_ids:
                case.path_parameters[name] = seeded.path_ids[name]
        if isinstance(case.body, dict) and "event" in case.body:
            case.body["event"] = EVENT_TYPE
    case.call_and_validate(app=seeded.app, headers=AUTH, checks=CHECKS)
