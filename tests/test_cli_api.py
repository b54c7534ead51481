"""``hookwire events send``, ``webhooks``, ``logs`` as a user runs them: the real executable
against a real ``hookwire serve`` process, delivering to a real receiver on 127.0.0.1.

The commands run in a thread (or as a child process, for ``--follow``), so that
the test's event loop keeps answering as the webhook receiver.
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import signal
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from hookwire.cli_api import LogFollower
from hookwire.client import AsyncClient, LogEntry
from hookwire.config import Settings
from tests.conftest import ADMIN_KEY, SECRET_KEY
from tests.faults import serve_process
from tests.receivers import Receiver
from tests.test_cli import HOOKWIRE, closed_port, one_line_failure

TENANT = "acme"
TOKEN = "cli-test-token-0123456789"
WAIT_SECONDS = 20.0
POLL_SECONDS = 0.05
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@dataclass
class Service:
    """A running ``hookwire serve`` with a tenant and the catalogue, and the CLI's environment."""

    url: str
    env: dict[str, str]
    admin: AsyncClient

    async def hookwire(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return await asyncio.to_thread(hookwire, *args, env=self.env, stdin=stdin)

    async def entries(self, webhook_id: str, count: int) -> list[LogEntry]:
        """The webhook's log once it has ``count`` entries (newest first)."""
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            page = await self.admin.list_webhook_logs(TENANT, webhook_id)
            if len(page.data) >= count:
                return list(page.data)
            assert time.monotonic() < deadline, f"the log has {len(page.data)} of {count}"
            await asyncio.sleep(POLL_SECONDS)


def cli_env(**values: str) -> dict[str, str]:
    """The environment of a user's shell: nothing of the test run's HOOKWIRE_* settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOOKWIRE_")}
    return env | values


def hookwire(*args: str, env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [HOOKWIRE, *args], capture_output=True, text=True, env=env, input=stdin, timeout=60
    )


@asynccontextmanager
async def service(settings: Settings, tmp_path: Path) -> AsyncIterator[Service]:
    env = {
        "HOOKWIRE_DATABASE_URL": settings.resolved_database_url,
        "HOOKWIRE_ADMIN_KEY": ADMIN_KEY,
        "HOOKWIRE_SECRET_KEY": SECRET_KEY,
        "HOOKWIRE_ALLOW_PRIVATE_NETWORKS": "true",
    }
    async with serve_process(env, tmp_path) as served, AsyncClient(served.url, ADMIN_KEY) as admin:
        for name in ("license.created", "license.expired"):
            await admin.create_event_type(name)
        await admin.create_tenant("Acme", id=TENANT)
        shell = cli_env(
            HOOKWIRE_URL=served.url, HOOKWIRE_ADMIN_KEY=ADMIN_KEY, HOOKWIRE_TENANT=TENANT
        )
        yield Service(served.url, shell, admin)


def field(output: str, name: str) -> str:
    """The value printed after ``name`` at the start of a line (``webhook  wh_… (Name)``)."""
    for line in output.splitlines():
        if line.startswith(name + " "):
            return line[len(name) :].split()[0]
    raise AssertionError(f"no {name!r} line in {output!r}")


async def test_webhooks_events_and_logs_from_the_shell(settings: Settings, tmp_path: Path) -> None:
    async with Receiver() as receiver, service(settings, tmp_path) as hw:
        created = await hw.hookwire(
            "webhooks", "create", "--name", "Orders", "--url", receiver.url,
            "--event", "license.created", "--token", TOKEN, "--ordering", "fifo",
        )  # fmt: skip
        assert created.returncode == 0, created.stderr
        webhook_id = field(created.stdout, "webhook")
        assert field(created.stdout, "token") == TOKEN
        webhook = await hw.admin.get_webhook(TENANT, webhook_id)
        assert (webhook.name, webhook.events, webhook.ordering) == (
            "Orders", ("license.created",), "fifo",
        )  # fmt: skip

        listed = await hw.hookwire("webhooks", "list")
        assert listed.returncode == 0, listed.stderr
        header, row = listed.stdout.splitlines()
        assert header.split() == ["ID", "NAME", "URL", "EVENTS", "STATUS", "ENABLED"]
        assert row.split() == [
            webhook_id,
            "Orders",
            receiver.url,
            "license.created",
            "healthy",
            "yes",
        ]

        sent = await hw.hookwire("events", "send", "license.created", "--data", '{"key": "K-1"}')
        assert sent.returncode == 0, sent.stderr
        event_id = field(sent.stdout, "event")
        assert field(sent.stdout, "deliveries") == "1"
        await receiver.wait_for(lambda r: len(r.requests) == 1)
        assert json.loads(receiver.requests[0].body)["data"] == {"key": "K-1"}

        [entry] = await hw.entries(webhook_id, 1)
        shown = await hw.hookwire("logs", webhook_id)
        assert shown.returncode == 0, shown.stderr
        header, line = shown.stdout.splitlines()
        assert header.startswith("RECORDED (UTC)")
        assert line.split()[2:6] == ["license.created", "1", "200", str(entry.duration_ms)]
        assert entry.delivery_id in line
        assert entry.event_id == event_id
        failures = await hw.hookwire("logs", webhook_id, "--failure")
        assert failures.stdout.strip() == "no entries in this webhook's event log"

        kept = await hw.hookwire("webhooks", "delete", webhook_id, stdin="n\n")
        assert kept.returncode == 1 and "Aborted" in kept.stderr
        assert (await hw.admin.get_webhook(TENANT, webhook_id)).id == webhook_id
        deleted = await hw.hookwire("webhooks", "delete", webhook_id, "--yes")
        assert deleted.returncode == 0, deleted.stderr
        assert deleted.stdout.strip() == f"deleted webhook {webhook_id}"
        assert (await hw.admin.list_webhooks(TENANT)).data == ()
        empty = await hw.hookwire("webhooks", "list")
        assert empty.stdout.startswith("no webhooks yet")


@sqlite_only
async def test_event_data_from_a_file_or_stdin_and_the_hint_when_nobody_gets_it(
    settings: Settings, tmp_path: Path
) -> None:
    data_file = tmp_path / "data.json"
    data_file.write_text('{"from": "file"}')
    async with service(settings, tmp_path) as hw:
        from_file = await hw.hookwire(
            "events", "send", "license.expired", "--data-file", str(data_file)
        )
        from_stdin = await hw.hookwire(
            "events", "send", "license.expired", "-", stdin='{"from": "stdin"}'
        )
        for result, data in ((from_file, {"from": "file"}), (from_stdin, {"from": "stdin"})):
            assert result.returncode == 0, result.stderr
            assert field(result.stdout, "deliveries") == "0"
            hint = field(result.stdout, "hint")  # the server's words: no webhook yet
            assert hint, result.stdout
            event = await hw.admin.get_event(TENANT, field(result.stdout, "event"))
            assert event.data == data

        again = await hw.hookwire("events", "send", "license.expired", "--id", "order-42")
        replayed = await hw.hookwire("events", "send", "license.expired", "--id", "order-42")
        assert field(again.stdout, "event") == field(replayed.stdout, "event") == "order-42"
        assert "replayed" not in again.stdout and "replayed" in replayed.stdout

        twice = await hw.hookwire("events", "send", "license.expired", "--data", "{}", "-")
        not_json = await hw.hookwire("events", "send", "license.expired", "--data", "{oops")
        not_object = await hw.hookwire("events", "send", "license.expired", "--data", "[1]")
        for result, words in (
            (twice, "give the data once: --data and - were both given"),
            (not_json, "Invalid value for --data: is not JSON"),
            (not_object, "Invalid value for --data: must be a JSON object"),
        ):
            assert result.returncode == 2 and words in result.stderr, result.stderr
        assert len((await hw.admin.list_events(TENANT)).data) == 3, "nothing sent by mistakes"


@sqlite_only
async def test_json_output_is_the_apis_json(settings: Settings, tmp_path: Path) -> None:
    async with Receiver() as receiver, service(settings, tmp_path) as hw:
        created = await hw.hookwire(
            "webhooks", "create", "--name", "Chat", "--url", receiver.url, "--format", "slack",
            "--signature-scheme", "standard", "--disabled", "--json",
        )  # fmt: skip
        webhook = json.loads(created.stdout)
        assert (webhook["format"], webhook["signatureScheme"], webhook["active"]) == (
            "slack", "standard", False,
        )  # fmt: skip
        assert webhook["token"].startswith("whsec_")
        second = json.loads(
            (
                await hw.hookwire(
                    "webhooks", "create", "--name", "Ops", "--url", receiver.url, "--json"
                )
            ).stdout
        )
        lines = (await hw.hookwire("webhooks", "list", "--json")).stdout.splitlines()
        assert [json.loads(line)["id"] for line in lines] == [webhook["id"], second["id"]]

        sent = json.loads((await hw.hookwire("events", "send", "license.created", "--json")).stdout)
        assert set(sent) == {"id", "event", "triggeredAt", "deliveries", "hint"}
        assert sent["deliveries"] == 1, "the disabled webhook gets nothing"
        await hw.entries(second["id"], 1)
        [line] = (await hw.hookwire("logs", second["id"], "--json")).stdout.splitlines()
        entry = json.loads(line)
        assert (entry["eventId"], entry["statusCode"]) == (sent["id"], 200)
        assert datetime.fromisoformat(entry["createdAt"]) <= datetime.now(UTC)


@sqlite_only
async def test_logs_follow_prints_new_entries_once_and_stops_on_ctrl_c(
    settings: Settings, tmp_path: Path
) -> None:
    async with Receiver() as receiver, service(settings, tmp_path) as hw:
        webhook = await hw.admin.create_webhook(TENANT, name="Tail", url=receiver.url)
        before = await hw.admin.send_event(TENANT, "license.created", {"n": 0})
        await hw.entries(webhook.id, 1)
        with following(hw.env, "logs", webhook.id, "--follow", "--json") as follow:
            assert json.loads(await follow.next_line())["eventId"] == before.id
            # Sent only once --follow has shown the log as it was: these arrive while it polls.
            later = [await hw.admin.send_event(TENANT, "license.created", {"n": n}) for n in (1, 2)]
            arrived = [json.loads(await follow.next_line())["eventId"] for _ in later]
            assert sorted(arrived) == sorted(e.id for e in later)
            await hw.admin.send_event(TENANT, "license.expired", {"n": 3})
            last = json.loads(await follow.next_line())
            assert last["event"] == "license.expired"
            result = follow.interrupt()
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr and result.stderr == ""
        assert result.stdout == "", "nothing printed twice or late"

        human = await hw.hookwire("logs", webhook.id, "--limit", "2")
        assert [line.split()[2] for line in human.stdout.splitlines()[1:]] == [
            "license.expired", "license.created",
        ]  # fmt: skip


class Following:
    """A ``hookwire logs --follow`` child process and the lines it has printed so far."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.lines: queue.Queue[str] = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)

    async def next_line(self) -> str:
        """The next line it prints, awaited with a deadline (in a thread: the test's
        receiver has to keep answering meanwhile)."""
        try:
            return await asyncio.to_thread(self.lines.get, timeout=WAIT_SECONDS)
        except queue.Empty:
            raise AssertionError("hookwire logs --follow printed nothing more") from None

    def interrupt(self) -> subprocess.CompletedProcess[str]:
        """Ctrl-C; what it printed after the lines already read, its stderr and exit status."""
        self.process.send_signal(signal.SIGINT)
        self.process.wait(timeout=WAIT_SECONDS)
        self.reader.join(timeout=WAIT_SECONDS)
        assert self.process.stderr is not None
        stderr = self.process.stderr.read()
        rest = []
        while not self.lines.empty():
            rest.append(self.lines.get())
        return subprocess.CompletedProcess(
            self.process.args, self.process.returncode, "".join(rest), stderr
        )


@contextmanager
def following(env: dict[str, str], *args: str) -> Iterator[Following]:
    process = subprocess.Popen(
        [HOOKWIRE, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        yield Following(process)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


# --- failures: a few lines on stderr, exit status 1, no traceback ---------------------------


@sqlite_only
async def test_a_refused_key_is_one_line(settings: Settings, tmp_path: Path) -> None:
    async with service(settings, tmp_path) as hw:
        # --key wins over the environment; HOOKWIRE_API_KEY over HOOKWIRE_ADMIN_KEY.
        flag = await hw.hookwire("webhooks", "list", "--key", "hw_not-a-key-0123456789")
        env = hw.env | {"HOOKWIRE_API_KEY": "hw_not-a-key-0123456789"}
        variable = await asyncio.to_thread(hookwire, "events", "send", "license.created", env=env)
        for result in (flag, variable):
            assert result.returncode == 1
            assert one_line_failure(result).startswith("Error: the key was refused")
        assert (await hw.admin.list_events(TENANT)).data == ()


@sqlite_only
async def test_invalid_input_shows_the_problem_and_each_field_error(
    settings: Settings, tmp_path: Path
) -> None:
    async with service(settings, tmp_path) as hw:
        result = await hw.hookwire(
            "webhooks", "create", "--name", "Bad", "--url", "ftp://example.com/hook",
            "--event", "License.Created",
        )  # fmt: skip
        missing = await hw.hookwire("logs", "wh_missing")
        assert (await hw.admin.list_webhooks(TENANT)).data == ()
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [
        "Error: 422 Unprocessable Content",
        "  url: the URL must be absolute and start with http:// or https://",
        "  events: not valid event type names: 'License.Created'; each must be lowercase "
        "words separated by dots, like license.created (a-z, 0-9, - and _ in each word)",
    ]
    assert one_line_failure(missing) == "Error: 404 Not Found: webhook 'wh_missing' not found"
    assert missing.returncode == 1


def test_an_unreachable_service_is_one_line() -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    for args in (("events", "send", "license.created"), ("logs", "wh_1", "--follow")):
        result = hookwire(*args, "--url", url, "--key", "k", "--tenant", "t", env=cli_env())
        assert result.returncode == 1
        line = one_line_failure(result)
        assert line == f"Error: cannot reach hookwire at {url}: is `hookwire serve` running?"


def test_the_key_and_tenant_are_required_and_help_says_where_they_come_from() -> None:
    result = hookwire("webhooks", "list", env=cli_env(HOOKWIRE_TENANT="t"))
    assert result.returncode == 2 and "Missing option '--key'" in result.stderr
    shown = hookwire("logs", "--help", env=cli_env()).stdout
    assert "HOOKWIRE_API_KEY, else from HOOKWIRE_ADMIN_KEY" in " ".join(shown.split())
    assert "HOOKWIRE_TENANT" in shown and "HOOKWIRE_URL" in shown


# --- what --follow shows, poll after poll (the log as a list, no server) ------------------------


T0 = datetime(2026, 1, 1, tzinfo=UTC)


def entry(n: int, at: float) -> LogEntry:
    """Log entry ``log_<n>`` recorded ``at`` seconds after T0."""
    return LogEntry(
        id=f"log_{n:04d}", delivery_id=f"dlv_{n}", webhook_id="wh_1", event_id=f"evt_{n}",
        event="license.created", attempt=1, trigger="scheduled", success=True,
        created_at=T0 + timedelta(seconds=at),
    )  # fmt: skip


class FakeLog:
    """A webhook's log as the API serves it: newest first, ``since`` inclusive."""

    def __init__(self) -> None:
        self.entries: list[LogEntry] = []
        self.asked: list[datetime | None] = []

    def fetch(self, since: datetime | None) -> Iterator[tuple[LogEntry, Any]]:
        self.asked.append(since)
        order = sorted(self.entries, key=lambda e: (e.created_at, e.id), reverse=True)
        return ((e, {"id": e.id}) for e in order if since is None or e.created_at >= since)  # type: ignore[operator]


def ids(items: list[tuple[LogEntry, Any]]) -> list[str]:
    return [item[0].id for item in items]


def test_follow_shows_entries_sharing_a_time_and_late_ones_each_once() -> None:
    log = FakeLog()
    log.entries = [entry(n, at=n) for n in range(1, 6)]
    follower = LogFollower(log.fetch, limit=3, lookback_seconds=10)
    assert ids(follower.start()) == ["log_0003", "log_0004", "log_0005"]
    assert follower.poll() == [], "the older entries are the log's past"

    log.entries += [entry(6, at=7), entry(7, at=7)]  # the same instant
    assert ids(follower.poll()) == ["log_0006", "log_0007"]
    log.entries += [entry(8, at=7)]  # that instant again, committed after the poll
    log.entries += [entry(9, at=6.5)]  # recorded earlier, committed later (another worker)
    assert ids(follower.poll()) == ["log_0009", "log_0008"]
    assert follower.poll() == []
    assert log.asked[-1] == T0 + timedelta(seconds=7 - 10)


def test_follow_of_an_empty_log_shows_everything_that_comes_and_forgets_what_is_far_behind() -> (
    None
):
    log = FakeLog()
    follower = LogFollower(log.fetch, limit=20, lookback_seconds=10)
    assert follower.start() == []
    log.entries = [entry(1, at=0), entry(2, at=1)]
    assert ids(follower.poll()) == ["log_0001", "log_0002"]
    log.entries.append(entry(3, at=100))
    assert ids(follower.poll()) == ["log_0003"]
    assert follower.poll() == []
    assert set(follower.seen) == {"log_0003"}, "ids out of every future window are dropped"
