"""When the database fails: 503 problem+json with Retry-After, in time, on a usable connection.

PostgreSQL is reached through a :class:`~tests.faults.TcpProxy` that the tests
freeze (a stopped server: nothing answers) and cut (a crashed or restarting
server: connections reset and refused). SQLite is locked by another process,
and filled up. Afterwards the same keep-alive connection works again and
nothing that was answered 202 is missing.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from hookwire.app import create_app
from hookwire.config import Settings
from hookwire.crypto import TokenCipher
from hookwire.storage import Storage, create_engine
from tests.conftest import ADMIN_KEY, SECRET_KEY, postgresql_only
from tests.faults import TcpProxy, serve_process

TIMEOUT_SECONDS = 1.0
TINY_DISK_BYTES = 1024 * 1024
KILL_POSTERS = 8
KILL_AFTER_EVENTS = 40
# An answer must come within the database timeout plus this much.
ANSWER_MARGIN_SECONDS = 1.5
EVENT = {"event": "license.created", "data": {"key": "K-1"}}


class Connection:
    """One keep-alive HTTP/1.1 connection, to prove that it survives an error answer."""

    def __init__(self, url: str) -> None:
        self.host, port = url.removeprefix("http://").split(":")
        self.port = int(port)
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def __aenter__(self) -> Connection:
        self._streams = await asyncio.open_connection(self.host, self.port)
        return self

    async def __aexit__(self, *_exc: object) -> None:
        assert self._streams is not None
        self._streams[1].close()

    async def request(
        self, method: str, path: str, body: dict[str, Any] | None = None
    ) -> tuple[int, dict[str, str], Any]:
        assert self._streams is not None, "not connected"
        reader, writer = self._streams
        payload = json.dumps(body).encode() if body is not None else b""
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\n"
            f"Authorization: Bearer {ADMIN_KEY}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\n\r\n"
        )
        writer.write(head.encode() + payload)
        status_line = await reader.readline()
        assert status_line, "the server closed the connection instead of answering"
        status = int(status_line.split()[1])
        headers = {}
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            headers[name.strip().lower()] = value.strip()
        content = await reader.readexactly(int(headers.get("content-length", "0")))
        return status, headers, json.loads(content) if content else None


def _assert_503(status: int, headers: dict[str, str], body: Any) -> None:
    assert status == 503, body
    assert headers["content-type"] == "application/problem+json"
    assert int(headers["retry-after"]) > 0
    assert body["status"] == 503 and "database" in body["detail"]


async def _prepare(connection: Connection) -> None:
    status, _, _ = await connection.request("POST", "/v1/event-types", {"name": "license.created"})
    assert status in (201, 409)
    status, _, _ = await connection.request("POST", "/v1/tenants", {"id": "acme", "name": "Acme"})
    assert status in (201, 409)


async def _events(connection: Connection) -> set[str]:
    status, _, body = await connection.request("GET", "/v1/tenants/acme/events?limit=250")
    assert status == 200, body
    return {e["id"] for e in body["data"]}


@pytest.fixture
async def proxied(settings: Settings) -> AsyncIterator[tuple[TcpProxy, str]]:
    """A proxy in front of the test's PostgreSQL database, and the URL through it."""
    url = sa.engine.make_url(settings.database_url)
    async with TcpProxy(url.host or "127.0.0.1", url.port or 5432) as proxy:
        through = url.set(host="127.0.0.1", port=proxy.port, drivername="postgresql")
        yield proxy, through.render_as_string(hide_password=False)


def _serve_env(database_url: str) -> dict[str, str]:
    return {
        "HOOKWIRE_DATABASE_URL": database_url,
        "HOOKWIRE_ADMIN_KEY": ADMIN_KEY,
        "HOOKWIRE_SECRET_KEY": SECRET_KEY,
        "HOOKWIRE_DATABASE_TIMEOUT_SECONDS": str(TIMEOUT_SECONDS),
        "HOOKWIRE_ALLOW_PRIVATE_NETWORKS": "true",
    }


@postgresql_only
async def test_a_frozen_postgresql_answers_503_in_time_then_recovers(
    proxied: tuple[TcpProxy, str], tmp_path: Path
) -> None:
    proxy, database_url = proxied
    async with (
        serve_process(_serve_env(database_url), tmp_path) as served,
        Connection(served.url) as conn,
    ):
        await _prepare(conn)
        status, _, first = await conn.request("POST", "/v1/tenants/acme/events", EVENT)
        assert status == 202, first

        proxy.freeze()
        for path, body in (("/v1/tenants/acme/events", EVENT), ("/readyz", None)):
            started = time.monotonic()
            answer = await conn.request("POST" if body else "GET", path, body)
            assert time.monotonic() - started < TIMEOUT_SECONDS + ANSWER_MARGIN_SECONDS
            _assert_503(*answer)

        proxy.restore()
        # The same connection, still open, works again.
        status, _, second = await conn.request("POST", "/v1/tenants/acme/events", EVENT)
        assert status == 202, second
        assert {first["id"], second["id"]} <= await _events(conn)


@postgresql_only
async def test_a_cut_postgresql_answers_503_at_once_then_recovers(
    proxied: tuple[TcpProxy, str], tmp_path: Path
) -> None:
    proxy, database_url = proxied
    async with (
        serve_process(_serve_env(database_url), tmp_path) as served,
        Connection(served.url) as conn,
    ):
        await _prepare(conn)
        proxy.cut()
        started = time.monotonic()
        _assert_503(*await conn.request("POST", "/v1/tenants/acme/events", EVENT))
        assert time.monotonic() - started < TIMEOUT_SECONDS + ANSWER_MARGIN_SECONDS
        _assert_503(*await conn.request("GET", "/readyz"))

        proxy.restore()
        status, _, accepted = await conn.request("POST", "/v1/tenants/acme/events", EVENT)
        assert status == 202, accepted
        assert accepted["id"] in await _events(conn)


def _hold_write_lock(path: Path) -> subprocess.Popen[str]:
    """Another process that holds SQLite's write lock until its stdin closes."""
    script = (
        "import sqlite3, sys\n"
        f"c = sqlite3.connect({str(path)!r}, isolation_level=None)\n"
        "c.execute('BEGIN IMMEDIATE')\n"
        "print('locked', flush=True)\n"
        "sys.stdin.read()\n"
        "c.execute('ROLLBACK')\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
    return holder


async def test_sqlite_locked_by_another_process_answers_503_then_recovers(
    tmp_path: Path,
) -> None:
    path = tmp_path / "hookwire.db"
    env = _serve_env(f"sqlite:///{path}")
    async with serve_process(env, tmp_path) as served, Connection(served.url) as conn:
        await _prepare(conn)
        status, _, first = await conn.request("POST", "/v1/tenants/acme/events", EVENT)
        assert status == 202, first

        holder = _hold_write_lock(path)
        try:
            started = time.monotonic()
            _assert_503(*await conn.request("POST", "/v1/tenants/acme/events", EVENT))
            assert time.monotonic() - started < TIMEOUT_SECONDS + ANSWER_MARGIN_SECONDS
        finally:
            assert holder.stdin is not None and holder.stdout is not None
            holder.stdin.close()
            holder.wait()
            holder.stdout.close()

        status, _, second = await conn.request("POST", "/v1/tenants/acme/events", EVENT)
        assert status == 202, second
        assert await _events(conn) == {first["id"], second["id"]}


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB file system of its own (tmpfs; needs the right to mount, as root in CI)."""
    mountpoint = tmp_path / "tiny"
    mountpoint.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={TINY_DISK_BYTES}", "tmpfs", str(mountpoint)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=True)


async def test_sqlite_on_a_full_disk_answers_503(
    sqlite_template: Path, tiny_disk: Path, tmp_path: Path
) -> None:
    shutil.copy(sqlite_template, tiny_disk / "h.db")
    full = Settings(
        database_url=f"sqlite:///{tiny_disk / 'h.db'}",
        data_dir=tmp_path,
        admin_key=ADMIN_KEY,
        secret_key=SECRET_KEY,
        run_worker=False,
    )
    storage = Storage(create_engine(full.resolved_database_url), TokenCipher(SECRET_KEY))
    await storage.create_event_type("license.created", "", None)
    await storage.create_tenant("Acme", "acme")
    transport = httpx.ASGITransport(app=create_app(full, storage))
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    big = {"event": "license.created", "data": {"notes": "x" * 60_000}}
    accepted = []
    async with httpx.AsyncClient(transport=transport, base_url="http://t", headers=headers) as api:
        for _ in range(TINY_DISK_BYTES // 60_000 + 5):  # more than fits
            response = await api.post("/v1/tenants/acme/events", json=big)
            if response.status_code != 202:
                break
            accepted.append(response.json()["id"])
        _assert_503(response.status_code, dict(response.headers), response.json())
        for event_id in accepted:  # what got its 202 is there
            assert (await api.get(f"/v1/tenants/acme/events/{event_id}")).status_code == 200
    await storage.close()


async def test_an_unexpected_error_is_a_500_problem(
    api: httpx.AsyncClient, storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("something broke, near a-secret-value")

    monkeypatch.setattr(storage, "list_tenants", broken)
    response = await api.get("/v1/tenants")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 500
    assert "a-secret-value" not in response.text


async def test_events_answered_202_survive_a_killed_server(
    database_url: str, tmp_path: Path
) -> None:
    """SIGKILL of ``serve`` while events pour in: every 202 is there after a restart."""
    if database_url.startswith("sqlite"):
        url = "sqlite:///" + database_url.removeprefix("sqlite+aiosqlite:///")
    else:
        url = "postgresql://" + database_url.split("://", 1)[1]
    env = _serve_env(url)
    accepted: list[str] = []
    async with serve_process(env, tmp_path) as served:
        async with Connection(served.url) as conn:
            await _prepare(conn)

        async def post_until_killed() -> None:
            async with httpx.AsyncClient(base_url=served.url) as client:
                headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
                while True:
                    try:
                        response = await client.post(
                            "/v1/tenants/acme/events", json=EVENT, headers=headers
                        )
                    except httpx.TransportError:
                        return  # the server is gone
                    if response.status_code == 202:
                        accepted.append(response.json()["id"])

        posters = [asyncio.create_task(post_until_killed()) for _ in range(KILL_POSTERS)]
        while len(accepted) < KILL_AFTER_EVENTS:
            await asyncio.sleep(0.01)
        served.process.kill()
        await asyncio.gather(*posters)
    async with serve_process(env, tmp_path) as again, Connection(again.url) as conn:
        for event_id in accepted:
            status, _, body = await conn.request("GET", f"/v1/tenants/acme/events/{event_id}")
            assert status == 200, (event_id, body)
