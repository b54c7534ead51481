"""The CLI as an operator meets it when something is wrong: one clear line, a non-zero exit.

Each test runs the real ``hookwire`` executable in its own process, as a user
would, and reads what it printed.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from tests.conftest import PG_ADMIN_URL

HOOKWIRE = str(Path(sys.executable).parent / "hookwire")


def run(*args: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``hookwire ARGS`` with no HOOKWIRE_* setting inherited from the test run."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("HOOKWIRE_")}
    return subprocess.run(
        [HOOKWIRE, *args],
        capture_output=True,
        text=True,
        env=environment,
        cwd=cwd,
        timeout=timeout,
    )


def one_line_failure(result: subprocess.CompletedProcess[str]) -> str:
    """The error line of a failed command, checked to be a single line without a traceback."""
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


def closed_port() -> int:
    """A loopback port on which nothing listens (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_a_bad_flag_value_is_a_usage_error_naming_the_flag(tmp_path: Path) -> None:
    result = run("serve", "--port", "abc", cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "--port" in result.stderr and "'abc' is not a valid integer" in result.stderr
    assert not (tmp_path / "hookwire.db").exists()


def test_a_port_in_use_suggests_another_port(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run("serve", "--host", "127.0.0.1", "--port", str(port), cwd=tmp_path)
    line = one_line_failure(result)
    assert f"port {port} on 127.0.0.1 is in use" in line
    assert "--port" in line


def test_verbose_shows_the_traceback_as_well(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run("serve", "--verbose", "--port", str(port), cwd=tmp_path)
    assert result.returncode != 0
    assert "Traceback" in result.stderr
    assert f"port {port} on 127.0.0.1 is in use" in result.stderr


def test_an_unreachable_database_names_the_url_and_what_to_check(tmp_path: Path) -> None:
    port = closed_port()
    url = f"postgresql://hookwire:s3cret-password@127.0.0.1:{port}/hookwire"
    result = run("serve", "--port", "0", "--database-url", url, cwd=tmp_path)
    line = one_line_failure(result)
    assert f"127.0.0.1:{port}" in line and "connection refused" in line
    assert "HOOKWIRE_DATABASE_URL" in line
    assert "s3cret-password" not in result.stderr + result.stdout


def test_a_missing_postgresql_database_says_how_to_create_it(tmp_path: Path) -> None:
    missing = f"hookwire_missing_{uuid.uuid4().hex[:8]}"
    url = PG_ADMIN_URL.rpartition("/")[0] + "/" + missing
    key = Fernet.generate_key().decode()
    result = run("worker", "--database-url", url, "--secret-key", key, cwd=tmp_path)
    line = one_line_failure(result)
    assert f"the database '{missing}' does not exist" in line
    assert f"createdb {missing}" in line


@pytest.mark.parametrize("command", ["worker", "migrate"])
def test_worker_and_migrate_create_no_database_when_pointed_at_nothing(
    command: str, tmp_path: Path
) -> None:
    result = run(command, "--data-dir", str(tmp_path), cwd=tmp_path)
    line = one_line_failure(result)
    assert f"there is no database at {tmp_path / 'hookwire.db'}" in line
    assert "hookwire migrate --create" in line
    assert list(tmp_path.iterdir()) == []


def test_a_worker_refuses_a_database_without_the_schema(tmp_path: Path) -> None:
    sqlite3.connect(tmp_path / "hookwire.db").close()  # an empty file, as a typo'd path makes
    other = run("migrate", "--create", "--data-dir", str(tmp_path / "other"), cwd=tmp_path)
    assert other.returncode == 0, other.stderr
    key = (tmp_path / "other" / "hookwire.secret").read_text().strip()
    result = run("worker", "--data-dir", str(tmp_path), "--secret-key", key, cwd=tmp_path)
    line = one_line_failure(result)
    assert "has no hookwire schema" in line and "run `hookwire migrate`" in line


def test_a_worker_without_the_services_secret_key_says_so(tmp_path: Path) -> None:
    database = tmp_path / "db"
    created = run("migrate", "--create", "--data-dir", str(database), cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    url = f"sqlite:///{database / 'hookwire.db'}"
    elsewhere = tmp_path / "elsewhere"
    result = run("worker", "--database-url", url, "--data-dir", str(elsewhere), cwd=tmp_path)
    line = one_line_failure(result)
    assert "no secret key" in line and "HOOKWIRE_SECRET_KEY" in line
    assert not elsewhere.exists()


def test_a_malformed_secret_key_is_one_line(tmp_path: Path) -> None:
    result = run(
        "migrate", "--create", "--data-dir", str(tmp_path), "--secret-key", "short", cwd=tmp_path
    )
    line = one_line_failure(result)
    assert "HOOKWIRE_SECRET_KEY must be a Fernet key" in line and "generate_key" in line


def test_migrate_reports_up_to_date_on_an_existing_database(tmp_path: Path) -> None:
    assert run("migrate", "--create", "--data-dir", str(tmp_path), cwd=tmp_path).returncode == 0
    again = run("migrate", "--data-dir", str(tmp_path), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "up to date" in again.stdout


@pytest.mark.parametrize(
    ("command", "has", "lacks"),
    [
        ("serve", ["--port", "--admin-key", "--database-url"], []),
        ("worker", ["--database-url", "--max-in-flight"], ["--port", "--admin-key"]),
        ("migrate", ["--database-url", "--create"], ["--port", "--retry-schedule"]),
    ],
)
def test_help_lists_only_the_options_a_command_uses(
    command: str, has: list[str], lacks: list[str], tmp_path: Path
) -> None:
    result = run(command, "--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for option in has:
        assert option in result.stdout
    for option in lacks:
        assert f"{option} " not in result.stdout
    assert "[env var: HOOKWIRE_" in result.stdout


def test_the_servers_socket_is_tcp_so_that_answers_are_not_delayed() -> None:
    # asyncio sets TCP_NODELAY only on sockets whose proto is TCP; a socket made
    # with proto 0 kept Nagle's algorithm on, and capped a kept-alive
    # connection at one small answer per delayed ACK (~40 ms).
    from hookwire.cli import _bind

    sock = _bind("127.0.0.1", 0)
    try:
        assert sock.proto == socket.IPPROTO_TCP
    finally:
        sock.close()
