"""Liveness and readiness probes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from bot.api.deps import ServicesDep

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is up")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Index, embedder, reranker and LLM state",
    responses={503: {"description": "Not ready: the search backend cannot answer (same body)."}},
)
async def readyz(services: ServicesDep) -> Any:
    """503 when the search backend cannot answer; degraded components are listed either way."""
    body = await services.readiness()
    return JSONResponse(body, status_code=200 if body["ready"] else 503)
