"""ASGI middleware that applies to every answer, whatever produced it."""

from __future__ import annotations

import logging
import time

from prometheus_client import Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hookwire.api.problems import domain_problem, problem_response
from hookwire.errors import Unavailable

log = logging.getLogger("hookwire")

NOSNIFF = (b"x-content-type-options", b"nosniff")
# The route label of a path that matched no route (a 404, a probe): one for all.
UNMATCHED = "unmatched"


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

    - ``hookwire_http_request_duration_seconds``: how long the answer took, by
      the route *template* the router matched (``/v1/tenants/{tenant_id}/events``,
      read from the scope after the app ran, so ids never become labels),
      method and status: two clock reads and one observation per request.

    Outermost, so that its own error answers carry the header and are timed too.
    """

    def __init__(self, app: ASGIApp, durations: Histogram) -> None:
        self.app = app
        self.durations = durations

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        status = 0  # no answer started yet

        async def answer(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                if not any(name.lower() == NOSNIFF[0] for name, _ in headers):
                    headers.append(NOSNIFF)
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, answer)
        except Unavailable as exc:
            if status:
                raise
            log.warning("%s %s answered 503: %s", scope["method"], scope["path"], exc)
            await domain_problem(exc)(scope, receive, answer)
        except Exception:
            if status:
                raise
            log.exception("%s %s failed", scope["method"], scope["path"])
            response = problem_response(
                500, "hookwire failed to answer this request; the error is in its log"
            )
            await response(scope, receive, answer)
        finally:
            template = getattr(scope.get("route"), "path", None) or UNMATCHED
            self.durations.labels(template, scope["method"], str(status or 500)).observe(
                time.perf_counter() - began
            )
