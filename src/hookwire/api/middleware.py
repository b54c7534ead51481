"""ASGI middleware that applies to every answer, whatever produced it."""

from __future__ import annotations

import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hookwire.api.problems import domain_problem, problem_response
from hookwire.errors import Unavailable

log = logging.getLogger("hookwire")

NOSNIFF = (b"x-content-type-options", b"nosniff")


class Answers:
    """What every answer gets, whatever produced it: one wrapper of ``send``.

    - ``X-Content-Type-Options: nosniff``: browsers must take an answer for the
      type it declares, so a receiver's text shown in JSON, or a file under
      /static, is never run as a script or page.
    - Every error is problem+json, and the connection stays usable. A database
      that cannot be reached, or does not answer within its timeout, is a
      ``503`` with ``Retry-After``: the caller cannot know whether a write
      happened and should send it again (with the same event id or
      Idempotency-Key, which makes that safe). Anything else unexpected is a
      ``500``. Without this, Starlette answers a plain-text 500 and the server
      drops the keep-alive connection, so callers often get no answer at all.

    Outermost, so that its own error answers carry the header too.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def answer(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers", []))
                if not any(name.lower() == NOSNIFF[0] for name, _ in headers):
                    headers.append(NOSNIFF)
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, answer)
        except Unavailable as exc:
            if started:
                raise
            log.warning("%s %s answered 503: %s", scope["method"], scope["path"], exc)
            await domain_problem(exc)(scope, receive, answer)
        except Exception:
            if started:
                raise
            log.exception("%s %s failed", scope["method"], scope["path"])
            response = problem_response(
                500, "hookwire failed to answer this request; the error is in its log"
            )
            await response(scope, receive, answer)
