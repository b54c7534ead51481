"""`hookwire serve` as a user runs it: a real process on a free port."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.faults import free_port

HOOKWIRE = str(Path(sys.executable).parent / "hookwire")
START_DEADLINE_SECONDS = 30.0
KEY_PATTERN = re.compile(r"hw_admin_[A-Za-z0-9_-]{20,}")


def wait_until(condition: object, what: str, deadline: float = START_DEADLINE_SECONDS) -> None:
    """Poll ``condition`` (a callable) until it is truthy."""
    assert callable(condition)
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@contextmanager
def serve(data_dir: Path, port: int, **env: str) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    log = data_dir / f"serve-{port}.log"
    environment = {k: v for k, v in os.environ.items() if not k.startswith("HOOKWIRE_")}
    environment.update(env)
    with log.open("wb") as out:
        process = subprocess.Popen(
            [HOOKWIRE, "serve", "--port", str(port), "--data-dir", str(data_dir)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=environment,
            cwd=data_dir,
        )
    try:

        def ready() -> bool:
            assert process.poll() is None, log.read_text()
            try:
                return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(ready, "/readyz")
        yield process, log
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_serve_generates_an_admin_key_once_and_stops_cleanly(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with serve(tmp_path, port) as (process, log):
        keys = KEY_PATTERN.findall(log.read_text())
        assert len(keys) == 1, log.read_text()
        auth = {"Authorization": f"Bearer {keys[0]}"}
        assert f"http://127.0.0.1:{port}/" in log.read_text()

        r = httpx.post(f"{base}/v1/tenants", json={"id": "acme", "name": "Acme"}, headers=auth)
        assert r.status_code == 201, r.text
        r = httpx.post(
            f"{base}/v1/tenants/acme/webhooks",
            json={"name": "orders", "url": "https://example.com/hook"},
            headers=auth,
        )
        assert r.status_code == 201, r.text
        assert (
            httpx.get(f"{base}/v1/tenants", headers={"Authorization": "Bearer x"}).status_code
            == 401
        )

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        assert "Traceback" not in log.read_text()

    assert (tmp_path / "hookwire.db").exists()
    # The key's hash is stored, not the key; the secret key file is private.
    assert keys[0].encode() not in (tmp_path / "hookwire.db").read_bytes()
    assert (tmp_path / "hookwire.secret").stat().st_mode & 0o077 == 0

    # Second start: no new key is printed, the first one still works, data is kept.
    with serve(tmp_path, port) as (_, log):
        assert KEY_PATTERN.findall(log.read_text()) == []
        r = httpx.get(f"{base}/v1/tenants/acme/webhooks", headers=auth)
        assert r.status_code == 200 and r.json()["data"][0]["name"] == "orders"


def test_configured_admin_key_is_used_and_nothing_generated(tmp_path: Path) -> None:
    port = free_port()
    key = "operator-chosen-admin-key-0123456789"
    with serve(tmp_path, port, HOOKWIRE_ADMIN_KEY=key) as (_, log):
        assert KEY_PATTERN.findall(log.read_text()) == []
        r = httpx.get(
            f"http://127.0.0.1:{port}/v1/tenants", headers={"Authorization": f"Bearer {key}"}
        )
        assert r.status_code == 200


def test_every_option_is_shown_with_its_environment_variable() -> None:
    out = subprocess.run([HOOKWIRE, "serve", "--help"], capture_output=True, text=True, check=True)
    for name in (
        "HOOKWIRE_DATABASE_URL",
        "HOOKWIRE_ADMIN_KEY",
        "HOOKWIRE_PORT",
        "HOOKWIRE_HOST",
        "HOOKWIRE_RETRY_SCHEDULE",
        "HOOKWIRE_ALLOW_PRIVATE_NETWORKS",
    ):
        assert name in out.stdout.replace("\n", "").replace(" ", ""), name


def test_bad_settings_are_reported_without_a_traceback(tmp_path: Path) -> None:
    out = subprocess.run(
        [HOOKWIRE, "serve", "--retry-schedule", "5,soon"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert out.returncode == 2
    assert "retry schedule" in out.stderr and "Traceback" not in out.stderr


def test_migrate_creates_the_schema(tmp_path: Path) -> None:
    out = subprocess.run(
        [HOOKWIRE, "migrate", "--create", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    assert "up to date" in out.stdout
    import sqlite3

    with sqlite3.connect(tmp_path / "hookwire.db") as db:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {
        "tenants",
        "api_keys",
        "event_types",
        "webhooks",
        "events",
        "deliveries",
        "log_entries",
        "alembic_version",
    } <= tables
