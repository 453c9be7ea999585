"""InProcessJobRunner: jobs as asyncio tasks in the API process, when no broker is set.

Same job functions and progress as the Celery runner; the heavy parts (parsing,
embedding, SQLite) already run in worker threads, so the API stays responsive. Jobs run
one at a time by default (`max_concurrent`), and the most recent `keep` jobs are
remembered. Nothing survives a restart: that is what the Celery runner is for.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from bot.errors import JobNotFound, SupportbotError
from bot.jobs.protocol import (
    FINISHED,
    JobProgress,
    JobResult,
    JobSpec,
    JobState,
    JobStatus,
    ProgressSink,
)

logger = logging.getLogger(__name__)

JobExecutor = Callable[[JobSpec, ProgressSink], Awaitable[JobResult]]


@dataclass
class _Job:
    id: str
    spec: JobSpec
    created_at: float
    updated_at: float
    state: JobStatus = "queued"
    progress: JobProgress | None = None
    result: JobResult | None = None
    error: str | None = None
    task: asyncio.Task[None] | None = field(default=None, repr=False)

    def snapshot(self) -> JobState:
        return JobState(
            id=self.id,
            kind=self.spec.kind,
            kb=self.spec.kb,
            state=self.state,
            progress=self.progress,
            result=self.result,
            error=self.error,
            created_at=self.created_at,
            updated_at=self.updated_at,
        )


class InProcessJobRunner:
    name = "in-process"

    def __init__(
        self,
        execute: JobExecutor,
        *,
        max_concurrent: int = 1,
        keep: int = 500,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._execute = execute
        self._slots = asyncio.Semaphore(max_concurrent)
        self._keep = keep
        self._clock = clock
        self._jobs: OrderedDict[str, _Job] = OrderedDict()

    async def start(self) -> None:
        return None  # tasks start on submit

    async def submit(self, spec: JobSpec) -> JobState:
        now = self._clock()
        job = _Job(uuid.uuid4().hex, spec, now, now)
        self._jobs[job.id] = job
        job.task = asyncio.get_running_loop().create_task(self._run(job), name=f"job-{job.id}")
        self._forget_old()
        return job.snapshot()

    async def get(self, job_id: str) -> JobState:
        return self._job(job_id).snapshot()

    async def list(self, *, kb: str | None = None, limit: int = 50) -> list[JobState]:
        jobs = [job for job in reversed(self._jobs.values()) if kb is None or job.spec.kb == kb]
        return [job.snapshot() for job in jobs[:limit]]

    async def cancel(self, job_id: str) -> JobState:
        job = self._job(job_id)
        if job.state not in FINISHED and job.task is not None:
            job.task.cancel()
            # Give the job time to abort cleanly (a re-index drops its staging index).
            await asyncio.wait({job.task}, timeout=30)
        return job.snapshot()

    async def close(self) -> None:
        running = [job.task for job in self._jobs.values() if job.task and not job.task.done()]
        for task in running:
            task.cancel()
        if running:
            await asyncio.wait(running, timeout=30)

    # -- internals -------------------------------------------------------------------
    def _job(self, job_id: str) -> _Job:
        job = self._jobs.get(job_id)
        if job is None:
            raise JobNotFound(f"no job {job_id!r}; list jobs with GET /admin/jobs")
        return job

    async def _run(self, job: _Job) -> None:
        try:
            async with self._slots:
                self._set(job, "running")
                result = await self._execute(job.spec, lambda p: self._progress(job, p))
            job.result = result
            self._set(job, "succeeded")
        except asyncio.CancelledError:
            self._set(job, "cancelled")
        except SupportbotError as exc:
            job.error = f"{exc.code}: {exc.message}"
            self._set(job, "failed")
        except Exception as exc:  # a job's bug must not kill the runner
            logger.exception("job %s (%s) crashed", job.id, job.spec.kind)
            job.error = f"internal_error: {type(exc).__name__}: {exc}"
            self._set(job, "failed")

    def _progress(self, job: _Job, progress: JobProgress) -> None:
        job.progress = progress
        job.updated_at = self._clock()

    def _set(self, job: _Job, state: JobStatus) -> None:
        job.state = state
        job.updated_at = self._clock()

    def _forget_old(self) -> None:
        finished = [job_id for job_id, job in self._jobs.items() if job.state in FINISHED]
        for job_id in finished[: max(0, len(self._jobs) - self._keep)]:
            del self._jobs[job_id]
