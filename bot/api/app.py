"""`create_app(settings)`: the FastAPI application; services are built in the lifespan."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

from fastapi import FastAPI

from bot import __doc__ as BOT_DOC
from bot.api.admission import AdmissionMiddleware
from bot.api.errors import install_error_handlers
from bot.api.openapi import install_openapi, warn_if_body_cap_refuses_valid_requests
from bot.api.request_observer import RequestObserverMiddleware
from bot.api.routes import (
    admin,
    chat,
    feedback,
    handoff,
    health,
    kbs,
    metrics,
    openai_compat,
    search,
    webhooks,
    widget,
)
from bot.observability.request_log import install_request_log
from bot.observability.tracing import build_tracer_provider, instrument_app
from bot.security.install import install_security
from bot.services import Services, build_services
from bot.settings import Settings

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, services: Services | None = None) -> FastAPI:
    """Build the app. Pass `services` to share already-warm components (tests, CLI)."""

    if services is None:
        settings = settings or Settings()
        served = settings
        # Built before the services: the app's tracing middleware must exist before it starts.
        tracer_provider = build_tracer_provider(settings)
    else:
        tracer_provider = services.tracer_provider
        served = services.settings

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = services is None
        if services is None:
            assert settings is not None
            # Model loading blocks for seconds; keep the loop responsive meanwhile.
            app.state.services = await asyncio.to_thread(
                partial(build_services, settings, tracer_provider=tracer_provider)
            )
        else:
            app.state.services = services
        app.state.services.edge  # noqa: B018 - built now, not in the first request
        if app.state.services.settings.request_log:
            install_request_log()
        warn_if_body_cap_refuses_valid_requests(app, app.state.services.settings.max_body_bytes)
        await app.state.services.jobs.start()
        scheduler = _start_sync_scheduler(app.state.services)
        try:
            yield
        finally:
            if scheduler is not None:
                scheduler.cancel()
            if owned:
                await app.state.services.aclose()

    app = FastAPI(
        title="supportbot",
        description=(BOT_DOC or "").strip()
        + "\n\nSearch a knowledge base, or chat with answers that cite the help center.",
        version="0.1.0",
        lifespan=lifespan,
    )
    install_openapi(app, served)
    install_error_handlers(app)
    app.add_middleware(AdmissionMiddleware)  # inside the per-client limits: 429 comes first
    install_security(app)
    app.add_middleware(RequestObserverMiddleware)  # outermost: sees every answer
    if tracer_provider is not None:
        instrument_app(app, tracer_provider)  # the server span wraps even the request id
    for module in (health, metrics, search, chat, kbs, admin):
        app.include_router(module.router)
    for module in (widget, feedback, handoff, webhooks, openai_compat):
        app.include_router(module.router)
    return app


SCHEDULED_HERE = frozenset({"in-process", "sqlite"})
"""Runners whose API processes send `sync_due` jobs (with Celery, beat sends them). With
several workers each one ticks; the tick skips while a `sync_due` job is queued or running,
and one that slips through finds nothing due when it runs."""


def _start_sync_scheduler(services: Services) -> asyncio.Task[None] | None:
    """Connected sources' schedules, when no Celery beat runs them (in-process jobs)."""
    tick_s = services.settings.source_schedule_tick_s
    if services.jobs.name not in SCHEDULED_HERE or tick_s <= 0:
        return None
    from bot.sources.scheduler import InProcessSyncScheduler

    scheduler = InProcessSyncScheduler(services.jobs, services.connected, tick_s)
    return asyncio.get_running_loop().create_task(scheduler.run(), name="sync-scheduler")
