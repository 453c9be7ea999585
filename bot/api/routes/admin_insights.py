"""GET /admin/insights: deflection, content gaps and feedback (included by the admin router)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from bot.api.deps import ServicesDep
from bot.api.insights_schemas import InsightsOut
from bot.api.responses import errors
from bot.api.schemas import KB_PATTERN
from bot.errors import ConfigurationError
from bot.insights.since import parse_since

router = APIRouter(responses=errors(400, 404, 503))


@router.get(
    "/insights",
    response_model=InsightsOut,
    summary="What customers asked, what the bot declined (grouped), thumbs-down answers",
)
async def insights(
    services: ServicesDep,
    kb: Annotated[str, Query(pattern=KB_PATTERN, description="Knowledge base name.")],
    since: Annotated[
        str | None, Query(description="A duration back from now (7d, 24h) or an ISO date/time.")
    ] = None,
    top: Annotated[int, Query(ge=1, le=200, description="Entries per list.")] = 20,
) -> InsightsOut:
    if services.insights is None:
        raise ConfigurationError("insights are not wired in these services")
    report = await services.insights.report(kb, parse_since(since), top=top)
    return InsightsOut.from_report(report)
