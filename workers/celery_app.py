"""The Celery app: Redis as broker and result backend, built from Settings by `make_celery`.

    celery -A workers.celery_app worker --concurrency 1     # jobs
    celery -A workers.celery_app beat                       # periodic re-sync

Everything takes the app explicitly; nothing is built at import. The one exception is the
module attribute `app` that `celery -A workers.celery_app` looks up: it is built lazily on
first access (PEP 562 `__getattr__`) from the environment, so importing this module (the
API does, to send tasks) stays cheap and side-effect free.

Delivery: `acks_late` + `task_reject_on_worker_lost`, so a task whose worker dies is
delivered again; with the Redis broker, a task whose whole worker host vanished comes back
after `visibility_timeout`, which must therefore exceed the longest job (a re-index).
"""

from __future__ import annotations

from celery import Celery
from celery.signals import worker_process_init, worker_process_shutdown

from bot.errors import ConfigurationError
from bot.settings import Settings


class SupportbotCelery(Celery):
    """A Celery app that carries the Settings its workers build their services from."""

    settings: Settings


def make_celery(settings: Settings) -> SupportbotCelery:
    broker = settings.celery_broker_url
    if not broker:
        raise ConfigurationError(
            "the Celery app needs SUPPORTBOT_CELERY_BROKER_URL (e.g. redis://127.0.0.1:6379/1); "
            "without it, jobs run in-process in the API"
        )
    app = SupportbotCelery(
        "supportbot",
        broker=broker,
        backend=settings.celery_result_backend or broker,
        set_as_current=False,
    )
    app.settings = settings
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
        result_backend_transport_options={"socket_timeout": 10, "socket_connect_timeout": 5},
        task_publish_retry_policy={"max_retries": 2, "interval_start": 0, "interval_step": 0.5},
        beat_schedule=_beat_schedule(settings),
    )
    from workers.tasks import register_tasks

    register_tasks(app)
    _connect_process_signals(app)
    return app


def _beat_schedule(settings: Settings) -> dict[str, dict[str, object]]:
    from bot.jobs.celery_runner import TASK_NAMES

    schedule: dict[str, dict[str, object]] = {}
    if settings.resync_interval_s > 0:
        schedule["resync-folder-sources"] = {
            "task": TASK_NAMES["resync"],
            "schedule": float(settings.resync_interval_s),
        }
    if settings.source_schedule_tick_s > 0:
        # Each connected source has its own interval; the tick only looks for due ones.
        schedule["sync-due-sources"] = {
            "task": TASK_NAMES["sync_due"],
            "schedule": float(settings.source_schedule_tick_s),
        }
    return schedule


def _connect_process_signals(app: SupportbotCelery) -> None:
    """Prefork children build their services (and load the model) once, before any task."""
    from workers.context import close_worker_context, worker_context

    def build(**_: object) -> None:
        worker_context(app)

    def close(**_: object) -> None:
        close_worker_context()

    worker_process_init.connect(build, weak=False, dispatch_uid="supportbot.process_init")
    worker_process_shutdown.connect(close, weak=False, dispatch_uid="supportbot.process_shutdown")


_cli_app: SupportbotCelery | None = None


def __getattr__(name: str) -> SupportbotCelery:
    """`app` for the celery CLI, built on first access from the environment."""
    global _cli_app
    if name != "app":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if _cli_app is None:
        _cli_app = make_celery(Settings())
    return _cli_app
