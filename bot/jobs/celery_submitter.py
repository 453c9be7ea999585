"""SubmittingCelery: the API's Celery app, which sends tasks and polls their state.

On every send, Celery's Redis result backend subscribes to the task's result channel, so
that `AsyncResult.get()` can wait on it. The API never waits on a result (it polls
`get_task_meta`), so those subscriptions would only pile up, one per job, for the life of
the process; and with the broker's Redis down, subscribing is what fails first: after the
backend's own reconnect retries (~20 s), with a RuntimeError asking to restart the app (a
500 for the admin who submitted). Without it, an unreachable broker fails `send_task`
within the publish retry policy (`task_publish_retry_policy`), in about a second.
"""

from __future__ import annotations

from typing import Any

from celery import Celery


class SubmittingCelery(Celery):
    def _get_backend(self) -> Any:
        backend = super()._get_backend()
        backend.on_task_call = _nothing_to_prepare  # Celery calls it (producer, task_id)
        return backend


def _nothing_to_prepare(producer: object, task_id: str) -> None:
    """The caller polls the task's state instead of waiting on its result."""
