"""Unauthenticated operational routes: liveness, readiness, metrics."""

from __future__ import annotations

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
async def metrics(request: Request) -> Response:
    """Prometheus metrics of this process."""
    return Response(
        generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST
    )
