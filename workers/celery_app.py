"""The workers' Celery app, built from Settings by `make_celery`.

    celery -A workers.celery_app worker --concurrency 1     # jobs
    celery -A workers.celery_app beat                       # periodic re-sync

The configuration the API shares (broker, backend, delivery) is `bot.jobs.celery_config`;
this module adds what only workers need: the tasks, the beat schedule, per-process setup.
The API never imports it: it sends tasks by name.

Everything takes the app explicitly; nothing is built at import. The one exception is the
module attribute `app` that `celery -A workers.celery_app` looks up: it is built lazily on
first access (PEP 562 `__getattr__`) from the environment, so importing this module stays
cheap and side-effect free.
"""

from __future__ import annotations

from celery import Celery
from celery.signals import worker_process_init, worker_process_shutdown

from bot.jobs.celery_config import build_celery_app
from bot.settings import Settings


class SupportbotCelery(Celery):
    """A Celery app that carries the Settings its workers build their services from."""

    settings: Settings


def make_celery(settings: Settings) -> SupportbotCelery:
    """The worker's app: the shared configuration, the tasks and the beat schedule."""
    app = build_celery_app(settings, SupportbotCelery)
    app.settings = settings
    app.conf.beat_schedule = _beat_schedule(settings)
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
