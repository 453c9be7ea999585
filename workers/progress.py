"""CeleryProgress: a job's progress written to Celery's result backend, and its cancel check.

Updates are throttled (every `interval_s`, plus phase changes and phase ends) so a large
ingest does not write to Redis per chunk. Every `cancel_check_s` it reads the job's cancel
flag; once set, it cancels the running job (a re-index then drops its staging index).
Failing to report progress never fails the job.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from celery import Task

from bot.errors import BackendUnavailable
from bot.jobs.celery_runner import PROGRESS
from bot.jobs.protocol import JobProgress
from bot.jobs.records import REDIS_ERRORS, RedisJobRecords

logger = logging.getLogger(__name__)


class CeleryProgress:
    def __init__(
        self,
        task: Task,
        job_id: str,
        records: RedisJobRecords,
        *,
        interval_s: float = 0.25,
        cancel_check_s: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._task = task
        self._job_id = job_id
        self._records = records
        self._interval_s = interval_s
        self._cancel_check_s = cancel_check_s
        self._clock = clock
        self._sent_at = float("-inf")
        self._checked_at = clock()
        self._cancel: Callable[[], object] | None = None
        self.last: JobProgress | None = None
        self.cancel_requested = False

    def bind(self, cancel: Callable[[], object]) -> None:
        self._cancel = cancel

    def __call__(self, progress: JobProgress) -> None:
        previous, self.last = self.last, progress
        now = self._clock()
        boundary = previous is None or previous.phase != progress.phase
        if boundary or progress.done >= progress.total or now - self._sent_at >= self._interval_s:
            self._sent_at = now
            self.publish(PROGRESS, self.meta())
        if now - self._checked_at >= self._cancel_check_s:
            self._checked_at = now
            self._check_cancel()

    def meta(self, **extra: object) -> dict[str, object]:
        progress = self.last.to_json() if self.last is not None else {}
        return {**progress, "updated_at": time.time(), **extra}

    def publish(self, state: str, meta: dict[str, object]) -> None:
        try:
            self._task.update_state(task_id=self._job_id, state=state, meta=meta)
        except REDIS_ERRORS as exc:
            logger.warning("job %s: cannot report progress (%s); continuing", self._job_id, exc)

    def _check_cancel(self) -> None:
        if self.cancel_requested:
            return
        try:
            requested = self._records.cancel_requested(self._job_id)
        except BackendUnavailable as exc:
            logger.warning("job %s: cannot read its cancel flag: %s", self._job_id, exc.message)
            return
        if requested and self._cancel is not None:
            logger.info("job %s: cancel requested; stopping", self._job_id)
            self.cancel_requested = True
            self._cancel()
