"""GET /metrics: Prometheus text exposition (keep it on an internal network)."""

from __future__ import annotations

from collections import Counter

from fastapi import APIRouter, Response

from bot.api.deps import ServicesDep
from bot.errors import SupportbotError

router = APIRouter(tags=["health"])

JOB_SCAN_LIMIT = 500
"""Newest jobs looked at for the queue-depth gauge (queued and running ones are newest)."""


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={
        200: {"content": {"text/plain": {}}, "description": "Prometheus text format 0.0.4."},
        404: {"description": "Metrics are disabled (SUPPORTBOT_METRICS_ENABLED=false)."},
    },
)
async def metrics(services: ServicesDep) -> Response:
    if services.metrics is None:
        return Response("metrics are disabled\n", status_code=404, media_type="text/plain")
    try:
        jobs = await services.jobs.list(limit=JOB_SCAN_LIMIT)
    except SupportbotError:
        jobs = None  # the queue is unreachable: leave the gauge at its last value
    if jobs is not None:
        states = Counter(job.state for job in jobs)
        services.metrics.set_job_counts({s: states.get(s, 0) for s in ("queued", "running")})
    body, content_type = services.metrics.render()
    return Response(body, media_type=content_type)
