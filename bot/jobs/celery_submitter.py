"""SubmittingCelery: the API's Celery app, which sends tasks and polls their state.

On every send, Celery's Redis result backend subscribes to the task's result channel, so
that `AsyncResult.get()` can wait on it. The API never waits on a result (it polls
`get_task_meta`), so those subscriptions would only pile up, one per job, for the life of
the process; and with the broker's Redis down, subscribing is what fails first: after the
backend's own reconnect retries (~20 s), with a RuntimeError asking to restart the app (a
500 for the admin who submitted). Without it, an unreachable broker fails `send_task`
within the publish retry policy (`task_publish_retry_policy`), in about a second.

A broker that accepts connections and never answers (stuck, or frozen) would hold each
publish try for the transport's socket timeout, set for the worker's long-lived
connections (10 s, three tries: ~40 s). The API's app waits `celery_submit_timeout_s` per
try, and tries twice.

Reading a job's state goes to Celery's result backend, a Redis too (the broker's, or
SUPPORTBOT_CELERY_RESULT_BACKEND): a frozen one would hold `GET /admin/jobs` for the
backend's socket timeout, set for the worker (10 s). The API's app waits
`job_store_timeout_s`, as the job records do, then answers 503.
"""

from __future__ import annotations

from typing import Any

from celery import Celery

from bot.jobs.celery_config import build_celery_app
from bot.settings import Settings


def submitting_app(settings: Settings) -> SubmittingCelery:
    """The API's app: the shared configuration, with publishing bounded for a request."""
    app = build_celery_app(settings, SubmittingCelery)
    timeout = settings.celery_submit_timeout_s
    app.conf.broker_transport_options = {
        **app.conf.broker_transport_options,
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
    }
    app.conf.redis_socket_timeout = settings.job_store_timeout_s
    app.conf.redis_socket_connect_timeout = settings.job_store_timeout_s
    app.conf.task_publish_retry_policy = {
        "max_retries": 1,
        "interval_start": 0,
        "interval_step": 0.2,
    }
    return app


class SubmittingCelery(Celery):
    def _get_backend(self) -> Any:
        backend = super()._get_backend()
        backend.on_task_call = _nothing_to_prepare  # Celery calls it (producer, task_id)
        return backend


def _nothing_to_prepare(producer: object, task_id: str) -> None:
    """The caller polls the task's state instead of waiting on its result."""
