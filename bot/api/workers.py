"""Serving with several worker processes: `supportbot serve --workers N`.

uvicorn's supervisor starts N processes that share the listening socket; each imports
`worker_app` and calls it (an app factory: no work at import time, settings read from the
environment in the worker, services built in the lifespan). Before spawning them the parent
tells the workers how many they are (`SUPPORTBOT_WORKERS`) and empties the folder their
Prometheus metric files go to, so `/metrics` in any worker sums all of them.

What the workers must agree on is shared: rate limits, conversations and webhook
idempotency in Redis when it is set, else in SQLite in the data dir; keys and
calibrations are files reread when they change; the embedded index is read per request
with its generation, so a re-index by any process is served by every worker on its next
search. Background jobs go to Celery when a broker is set; else they are kept in that
SQLite file too and one worker at a time runs them (`bot.jobs.sqlite_runner`), so any
worker accepts a job and answers its status.

uvicorn's supervisor replaces a worker that dies; its metric files stay, so counters keep
what it counted.
"""

from __future__ import annotations

import logging
import os

from fastapi import FastAPI

from bot.errors import ConfigurationError
from bot.observability.multiprocess import prepare_multiprocess_dir
from bot.settings import Settings

WORKER_APP = "bot.api.workers:worker_app"
"""What uvicorn imports in each worker process (with `factory=True`)."""

WORKERS_ENV = "SUPPORTBOT_WORKERS"
SERVER_LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"


def configure_server_logging() -> None:
    """Our INFO lines next to uvicorn's, in the parent and in every worker."""
    logging.basicConfig(level=logging.INFO, format=SERVER_LOG_FORMAT)


def worker_app() -> FastAPI:
    """The app of one worker process (uvicorn calls this in each worker)."""
    from bot.api.app import create_app

    configure_server_logging()
    return create_app(Settings())


def prepare_workers(settings: Settings, workers: int) -> None:
    """Tell the workers how many they are, and give their metric files an empty folder.

    Runs in the parent, before any worker starts: the metric files of an earlier run would
    otherwise be summed into this one's counters. Everything else they share is in Redis
    when it is set, else in the data dir (`bot.services.build_stores`, and the jobs:
    `bot.services.build_job_runner`).
    """
    if workers < 1:
        raise ConfigurationError(f"--workers must be at least 1, got {workers}")
    os.environ[WORKERS_ENV] = str(workers)
    if settings.metrics_enabled and (workers > 1 or settings.metrics_multiproc_dir is not None):
        prepare_multiprocess_dir(settings.metrics_multiproc_dir or settings.data_dir / "metrics")
