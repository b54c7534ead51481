"""ASGI middleware limiting what a request may carry: its body's size, its address's characters."""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hookwire.api.problems import problem_response
from hookwire.jsonvalues import CONTAINS_NUL

MAX_NAME_SHOWN_CHARS = 40


class _TooLarge(HTTPException):
    """An HTTPException, so FastAPI's body parsing lets it through as a 413."""


class BodySizeLimit:
    """Refuse bodies over ``max_bytes``: by Content-Length up front, else while streaming."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        detail = f"the request body is larger than the limit of {self.max_bytes} bytes"
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                await problem_response(413, detail)(scope, receive, send)
                return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _TooLarge(413, detail)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if started:
                raise
            await problem_response(413, detail)(scope, receive, send)


class PrintableAddress:
    """404 for a path with a control character; 422 for a query parameter with a NUL.

    No id hookwire hands out or accepts has a control character, so such a path
    names nothing; and PostgreSQL text cannot hold NUL, so looking one up would
    fail in the driver instead of finding nothing. Checked once here, for the
    API and the dashboard, rather than in every route.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            if not path.isprintable():
                detail = "nothing is at this path: it contains a control character"
                await problem_response(404, detail)(scope, receive, send)
                return
            query: bytes = scope.get("query_string", b"")
            if b"%00" in query or b"\0" in query:
                name = _first_nul_parameter(query)
                if name is not None:
                    message = CONTAINS_NUL
                    field = f"query.{name}"
                    errors = [{"field": field, "message": message}]
                    await problem_response(422, f"{field}: {message}", errors)(scope, receive, send)
                    return
        await self.app(scope, receive, send)


def _first_nul_parameter(query: bytes) -> str | None:
    # Decoded as Starlette decodes it, so the check sees what the routes see.
    for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
        if "\0" in name or "\0" in value:
            shown = name.replace("\0", "\\u0000")
            return (
                shown if len(shown) <= MAX_NAME_SHOWN_CHARS else shown[:MAX_NAME_SHOWN_CHARS] + "…"
            )
    return None
