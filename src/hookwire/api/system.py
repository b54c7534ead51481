"""Operational routes: liveness, readiness (open), metrics (open, or behind a token)."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from hookwire.api.deps import ServicesDep
from hookwire.api.problems import RETRY_AFTER_SECONDS, problem_response
from hookwire.errors import Unavailable

router = APIRouter(tags=["operations"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", response_model=None)
async def readyz(services: ServicesDep) -> dict[str, str] | Response:
    """The process can reach its database."""
    try:
        await services.ping()  # bounded by the database timeout
    except Unavailable as exc:
        return problem_response(
            503, f"not ready: {exc}", headers={"Retry-After": str(RETRY_AFTER_SECONDS)}
        )
    return {"status": "ready"}


@router.get("/metrics", response_class=Response)
async def metrics(request: Request, services: ServicesDep) -> Response:
    """Prometheus metrics: this process's, and the queue's as the database has it.

    With ``HOOKWIRE_METRICS_TOKEN`` set, only for ``Authorization: Bearer <token>``.
    """
    token = request.app.state.settings.metrics_token
    if token is not None and not _bearer_is(request.headers.get("authorization"), token):
        return problem_response(
            401,
            "GET /metrics needs Authorization: Bearer <HOOKWIRE_METRICS_TOKEN>",
            headers={"WWW-Authenticate": "Bearer"},
        )
    registry = request.app.state.metrics
    await registry.refresh_from(services.queue_stats)
    return Response(generate_latest(registry.registry), media_type=CONTENT_TYPE_LATEST)


def _bearer_is(header: str | None, token: str) -> bool:
    scheme, _, given = (header or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode(), token.encode()
    )
