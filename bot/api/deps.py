"""FastAPI dependencies as `Annotated` aliases, so routes read like prose."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from bot.pipeline import SupportPipeline
from bot.services import Services


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def get_pipeline(request: Request) -> SupportPipeline:
    return get_services(request).pipeline


ServicesDep = Annotated[Services, Depends(get_services)]
PipelineDep = Annotated[SupportPipeline, Depends(get_pipeline)]
