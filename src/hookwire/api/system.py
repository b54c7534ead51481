"""Unauthenticated operational routes: liveness, readiness, metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from hookwire.api.deps import StorageDep
from hookwire.errors import problem_response

router = APIRouter(tags=["operations"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", response_model=None)
async def readyz(storage: StorageDep) -> dict[str, str] | Response:
    """The process can reach its database."""
    try:
        await storage.ping()
    except Exception as exc:  # any driver error means "not ready"
        return problem_response(503, f"the database cannot be reached: {exc.__class__.__name__}")
    return {"status": "ready"}


@router.get("/metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    """Prometheus metrics of this process."""
    return Response(
        generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST
    )
