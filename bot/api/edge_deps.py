"""Dependencies for the edge routes (widget, feedback, handoff, webhooks, OpenAI-compatible)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from bot.services import EdgeServices
from bot.settings import Settings


def get_edge(request: Request) -> EdgeServices:
    edge: EdgeServices = request.app.state.services.edge
    return edge


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.services.settings
    return settings


EdgeDep = Annotated[EdgeServices, Depends(get_edge)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
