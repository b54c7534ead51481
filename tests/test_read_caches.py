"""The caches of the ingest path stay true: what is revoked, deleted or changed
stops counting on the next request of this process, and on another process as
soon as it hears the change notice (PostgreSQL), well within the cache's bound.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from hookwire.service import Services
from hookwire.service.cache import MAX_AGE_SECONDS, ReadCache
from hookwire.service.inputs import (
    ApiKeyCreate,
    EventCreate,
    EventTypeCreate,
    EventTypeUpdate,
    TenantCreate,
)
from tests.conftest import ADMIN_KEY, SECRET_KEY, postgresql_only
from tests.faults import free_port
from tests.test_serve import serve, wait_until

# --- the cache itself --------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr("hookwire.service.cache.time.monotonic", fake)
    return fake


def test_an_entry_is_kept_for_its_max_age_and_no_longer(clock: Clock) -> None:
    cache: ReadCache[str, int] = ReadCache(max_age=5)
    cache.put("k", 1)
    clock.now += 5
    assert cache.get("k") == 1
    clock.now += 0.001
    assert cache.get("k") is None
    assert len(cache) == 0


def test_update_keeps_the_age_of_what_was_read(clock: Clock) -> None:
    cache: ReadCache[str, int] = ReadCache(max_age=5)
    cache.put("k", 1)
    clock.now += 4
    cache.update("k", 2)
    assert cache.get("k") == 2
    clock.now += 2
    assert cache.get("k") is None, "an update must not make a stale read fresh again"
    cache.update("absent", 3)
    assert cache.get("absent") is None


def test_the_cache_is_bounded_oldest_first(clock: Clock) -> None:
    cache: ReadCache[int, int] = ReadCache(max_entries=3)
    for i in range(5):
        cache.put(i, i)
    assert len(cache) == 3
    assert [cache.get(i) for i in range(5)] == [None, None, 2, 3, 4]


async def test_callers_missing_together_share_one_load() -> None:
    cache: ReadCache[str, int] = ReadCache()
    loads = 0
    release = asyncio.Event()

    async def load() -> int:
        nonlocal loads
        loads += 1
        await release.wait()
        return 7

    waiting = [asyncio.create_task(cache.get_or_load("k", load)) for _ in range(50)]
    await asyncio.sleep(0)  # every caller has asked before the load finishes
    release.set()
    assert await asyncio.gather(*waiting) == [7] * 50
    assert loads == 1
    assert await cache.get_or_load("k", load) == 7 and loads == 1


async def test_a_load_overlapping_a_drop_is_not_kept() -> None:
    cache: ReadCache[str, int] = ReadCache()
    started, release = asyncio.Event(), asyncio.Event()

    async def load() -> int:
        started.set()
        await release.wait()
        return 1

    task = asyncio.create_task(cache.get_or_load("k", load))
    await started.wait()
    cache.drop("k")  # the change committed while the old value was being read
    release.set()
    assert await task == 1
    assert cache.get("k") is None


async def test_a_failed_load_reaches_every_waiter_and_keeps_nothing() -> None:
    cache: ReadCache[str, int] = ReadCache()
    release = asyncio.Event()

    async def load() -> int:
        await release.wait()
        raise LookupError("gone")

    waiting = [asyncio.create_task(cache.get_or_load("k", load)) for _ in range(3)]
    await asyncio.sleep(0)
    release.set()
    results = await asyncio.gather(*waiting, return_exceptions=True)
    assert all(isinstance(r, LookupError) for r in results)
    assert cache.get("k") is None


# --- one process: the next request -------------------------------------------


async def test_a_revoked_key_fails_on_the_next_call(services: Services) -> None:
    await services.tenants.create(TenantCreate(id="acme", name="Acme"))
    key = await services.tenants.create_key("acme", ApiKeyCreate(name="ci"))
    principal = await services.auth.authenticate(key.key)
    assert principal is not None and principal.tenant_id == "acme"
    await services.tenants.revoke_key("acme", key.record.id)
    assert await services.auth.authenticate(key.key) is None


async def test_a_deleted_tenants_keys_and_existence_are_forgotten(services: Services) -> None:
    await services.tenants.create(TenantCreate(id="acme", name="Acme"))
    key = await services.tenants.create_key("acme", ApiKeyCreate(name="ci"))
    admin = await services.auth.authenticate(ADMIN_KEY)
    assert admin is not None
    await services.auth.check_tenant(admin, "acme")  # now kept as existing
    assert await services.auth.authenticate(key.key) is not None
    await services.tenants.delete("acme")
    assert await services.auth.authenticate(key.key) is None
    with pytest.raises(Exception, match="not found"):
        await services.auth.check_tenant(admin, "acme")


async def test_a_changed_schema_applies_to_the_next_event(services: Services) -> None:
    await services.tenants.create(TenantCreate(id="acme", name="Acme"))
    await services.catalog.create(EventTypeCreate(name="license.created"))
    new = EventCreate(event="license.created", data={"key": 1})
    await services.events.trigger("acme", new)  # the type is now kept
    schema = {"type": "object", "properties": {"key": {"type": "string"}}}
    changes = EventTypeUpdate.model_validate({"schema": schema})
    await services.catalog.update("license.created", changes)
    with pytest.raises(Exception, match="data does not match"):
        await services.events.trigger("acme", new)
    await services.catalog.delete("license.created")
    with pytest.raises(Exception, match="unknown event type"):
        await services.events.trigger("acme", new)


# --- two processes: the change notice ----------------------------------------

# Well below MAX_AGE_SECONDS: passing within it shows the notice did the work,
# not the cache's age limit.
NOTICE_DEADLINE_SECONDS = 2.0
assert NOTICE_DEADLINE_SECONDS < MAX_AGE_SECONDS


@postgresql_only
def test_revocation_and_schema_changes_reach_another_process(
    database_url: str, tmp_path: Path
) -> None:
    env = {
        "HOOKWIRE_DATABASE_URL": database_url,
        "HOOKWIRE_ADMIN_KEY": ADMIN_KEY,
        "HOOKWIRE_SECRET_KEY": SECRET_KEY,
        "HOOKWIRE_RUN_WORKER": "false",
    }
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    port_a, port_b = free_port(), free_port()
    with serve(tmp_path / "a", port_a, **env), serve(tmp_path / "b", port_b, **env):
        a, b = f"http://127.0.0.1:{port_a}", f"http://127.0.0.1:{port_b}"

        def call(base: str, method: str, path: str, key: str, body: Any = None) -> httpx.Response:
            auth = {"Authorization": f"Bearer {key}"}
            return httpx.request(method, base + path, json=body, headers=auth, timeout=10)

        assert call(a, "POST", "/v1/event-types", ADMIN_KEY, {"name": "license.created"}).is_success
        assert call(a, "POST", "/v1/tenants", ADMIN_KEY, {"id": "acme", "name": "A"}).is_success
        created = call(a, "POST", "/v1/tenants/acme/api-keys", ADMIN_KEY, {"name": "ci"})
        key, key_id = created.json()["key"], created.json()["id"]
        event = {"event": "license.created", "data": {"key": 1}}

        # B reads the key and the event type once, and keeps them.
        assert call(b, "POST", "/v1/tenants/acme/events", key, event).status_code == 202

        # The schema changes on A: B's next events are held to it.
        schema = {"type": "object", "properties": {"key": {"type": "string"}}}
        patched = call(a, "PATCH", "/v1/event-types/license.created", ADMIN_KEY, {"schema": schema})
        assert patched.is_success, patched.text
        started = time.monotonic()
        wait_until(
            lambda: call(b, "POST", "/v1/tenants/acme/events", key, event).status_code == 422,
            "B to apply A's schema",
            deadline=NOTICE_DEADLINE_SECONDS,
        )

        # The key is revoked on A: B refuses it.
        revoked = call(a, "DELETE", f"/v1/tenants/acme/api-keys/{key_id}", ADMIN_KEY)
        assert revoked.status_code == 204, revoked.text
        wait_until(
            lambda: call(b, "GET", "/v1/tenants/acme/webhooks", key).status_code == 401,
            "B to refuse the key A revoked",
            deadline=NOTICE_DEADLINE_SECONDS,
        )
        assert time.monotonic() - started < MAX_AGE_SECONDS + NOTICE_DEADLINE_SECONDS
        assert httpx.get(f"{b}/v1/tenants", headers=admin).is_success
