"""``hookwire listen`` run for real as a subprocess, receiving signed and forged POSTs."""

from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import pytest

from hookwire.listen import format_delivery, signature_verdict
from hookwire.signing import SCHEME_HOOKWIRE, SCHEME_STANDARD, generate_token, signature_headers

BODY = b'{"event":"license.created","data":{"key":"D08B53"},"triggeredAt":"2018-04-20T13:11:34Z"}'
WAIT_SECONDS = 30.0


@dataclass
class Listener:
    """A running ``hookwire listen`` process and the lines it printed."""

    process: subprocess.Popen[str]
    lines: queue.Queue[str | None]
    url: str = ""

    def read_until(self, pattern: str) -> list[str]:
        """Lines printed up to and including the first one matching ``pattern``."""
        seen: list[str] = []
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            if line is None:
                raise AssertionError(f"listen exited ({self.process.wait()}) after {seen}")
            seen.append(line)
            if re.search(pattern, line):
                return seen


def _start(*args: str) -> Iterator[Listener]:
    command = [sys.executable, "-c", "from hookwire.cli import main; main()", "listen", *args]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    listener = Listener(process, lines)
    try:
        # Readiness: listen prints its bound address once it accepts connections.
        ready = listener.read_until(r"^listening on http://")[-1]
        listener.url = ready.removeprefix("listening on ")
        yield listener
        process.terminate()
        assert process.wait(timeout=WAIT_SECONDS) == 0  # SIGTERM is a clean stop
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        reader.join(timeout=WAIT_SECONDS)
        assert process.stdout is not None
        process.stdout.close()


@pytest.fixture
def token() -> str:
    return generate_token(SCHEME_HOOKWIRE)


@pytest.fixture
def listener(token: str) -> Iterator[Listener]:
    yield from _start("--port", "0", "--token", token, "--status", "202")


def _post(url: str, headers: dict[str, str]) -> httpx.Response:
    headers = {"Content-Type": "application/json; charset=utf-8", **headers}
    return httpx.post(url, content=BODY, headers=headers, timeout=WAIT_SECONDS)


def test_prints_each_delivery_and_checks_its_signature(listener: Listener, token: str) -> None:
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/", listener.url)
    now = int(time.time())

    good = signature_headers(SCHEME_HOOKWIRE, [token], "dl_good", now, BODY)
    response = _post(listener.url + "hooks/license?x=1", good)
    assert response.status_code == 202
    block = listener.read_until(r"^signature: ")
    assert re.match(
        r"^--- \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00 POST /hooks/license\?x=1$", block[0]
    )
    assert "Webhook-Id: dl_good" in block
    assert f"Webhook-Timestamp: {now}" in block
    assert f"Webhook-Signature: {good['Webhook-Signature']}" in block
    assert '  "event": "license.created",' in block  # pretty-printed JSON
    assert '    "key": "D08B53"' in block
    assert block[-1] == "signature: valid"

    forged = signature_headers(SCHEME_HOOKWIRE, ["not the token"], "dl_forged", now, BODY)
    assert _post(listener.url, forged).status_code == 202
    block = listener.read_until(r"^signature: ")
    assert "Webhook-Id: dl_forged" in block
    assert block[-1] == "signature: INVALID"

    assert _post(listener.url, {}).status_code == 202
    block = listener.read_until(r"^signature: ")
    assert "Webhook-Signature: (missing)" in block
    assert block[-1] == "signature: INVALID"


def test_detects_the_standard_scheme(listener: Listener, token: str) -> None:
    now = int(time.time())
    rotated = signature_headers(SCHEME_STANDARD, ["newer", token], "dl_std", now, BODY)
    assert rotated["Webhook-Signature"].startswith("v1,")
    assert _post(listener.url, rotated).status_code == 202
    assert listener.read_until(r"^signature: ")[-1] == "signature: valid"

    stale = signature_headers(SCHEME_STANDARD, [token], "dl_old", now - 3600, BODY)
    assert _post(listener.url, stale).status_code == 202
    assert listener.read_until(r"^signature: ")[-1] == "signature: INVALID"


def test_without_a_token_signatures_are_not_checked() -> None:
    for listener in _start("--port", "0"):
        assert listener.read_until("signatures are not checked")
        response = _post(listener.url, {"Webhook-Signature": "anything"})
        assert response.status_code == 200
        block = listener.read_until(r"^signature: ")
        assert block[-1] == "signature: not checked (no --token)"
        assert httpx.get(listener.url, timeout=WAIT_SECONDS).status_code == 200


def test_signature_verdict_on_broken_standard_headers() -> None:
    headers = {"Webhook-Signature": "v1,abc", "Webhook-Id": "x", "Webhook-Timestamp": "soon"}
    assert signature_verdict("tok", headers, BODY) == "INVALID"


def test_format_delivery_shows_a_non_json_body_as_text() -> None:
    text = format_delivery(datetime.now(UTC), "POST", "/", {}, b"plain \xff text", "valid")
    assert "plain \ufffd text" in text.splitlines()
    assert format_delivery(datetime.now(UTC), "POST", "/", {}, b"", "valid").count("(empty body)")
