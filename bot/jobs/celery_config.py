"""The Celery app both sides of a job agree on: broker, result backend, serialisation.

The API sends tasks by name through an app built here (`CeleryJobRunner`), so `bot`
never imports the task code; the worker entry point (`workers.celery_app`) builds its
app with the same function, then registers the tasks and the beat schedule on it.

Delivery: `acks_late` + `task_reject_on_worker_lost`, so a task whose worker dies is
delivered again; with the Redis broker, a task whose whole worker host vanished comes back
after `visibility_timeout`, which must therefore exceed the longest job (a re-index).
"""

from __future__ import annotations

from typing import TypeVar

from celery import Celery

from bot.errors import ConfigurationError
from bot.settings import Settings

AppT = TypeVar("AppT", bound=Celery)


def build_celery_app(settings: Settings, app_class: type[AppT]) -> AppT:
    """An app of `app_class` on the configured broker; no tasks registered, nothing sent."""
    broker = settings.celery_broker_url
    if not broker:
        raise ConfigurationError(
            "the Celery app needs SUPPORTBOT_CELERY_BROKER_URL (e.g. redis://127.0.0.1:6379/1); "
            "without it, jobs run in-process in the API"
        )
    app = app_class(
        "supportbot",
        broker=broker,
        backend=settings.celery_result_backend or broker,
        set_as_current=False,
    )
    visibility = settings.celery_visibility_timeout_s
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_default_queue="supportbot",
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        # Off: a redelivered copy must see the finished state, not a fresh STARTED (the
        # task reports PROGRESS itself as soon as it starts).
        task_track_started=False,
        worker_prefetch_multiplier=1,
        # Loading the embedding model in worker_process_init takes seconds, not the default 4.
        worker_proc_alive_timeout=180,
        result_expires=settings.job_retention_s,
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=5,
        broker_transport_options={
            "visibility_timeout": visibility,
            # Sweep for unacknowledged tasks of dead workers ~10 times per visibility timeout.
            "unacked_restore_interval": max(1, min(60, visibility // 10)),
            "unacked_restore_throttle": 1,
            "socket_timeout": 10,
            "socket_connect_timeout": 5,
        },
        # The Redis result backend reads these two (not its transport options); unset, a
        # frozen Redis would hold every state read and write forever.
        redis_socket_timeout=10,
        redis_socket_connect_timeout=5,
        task_publish_retry_policy={"max_retries": 2, "interval_start": 0, "interval_step": 0.5},
    )
    return app
