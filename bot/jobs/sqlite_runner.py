"""SqliteJobRunner: background jobs shared by the API workers of one machine, no broker.

`supportbot serve --workers N` without Celery: every worker submits, lists, reads and
cancels jobs in the shared-state file (`SqliteJobStore`), so a poll gets the same answer
whichever worker serves it. One worker at a time runs them: the holder of `LeaderLock`,
which every worker tries to take each `poll_s`. The holder claims the oldest queued job,
runs it with the same job functions as the other runners, writes its progress once per
poll, and cancels it when another worker sets its cancel flag.

When the runner dies (killed, out of memory) the kernel frees the lock and the next worker
to take it marks the job it left `running` as failed (`job_abandoned`), saying so; it does
not re-run it, because a job that kills its process would kill every worker in turn. Jobs
are idempotent, so submitting it again is safe. Queued jobs wait for the next runner. A
worker shutting down cleanly puts its running job back in the queue for the next one.
After a re-index the embedded index's generation has changed, so every worker serves the
new index on its next search.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import logging
import os
import time
import uuid
from collections.abc import Callable

from bot.errors import JobAbandoned, JobNotFound, SupportbotError
from bot.jobs.inprocess import JobExecutor
from bot.jobs.leader_lock import LeaderLock
from bot.jobs.protocol import JobProgress, JobResult, JobSpec, JobState, JobStatus
from bot.jobs.sqlite_store import SqliteJobStore

logger = logging.getLogger(__name__)

ABANDONED = (
    f"{JobAbandoned.code}: the worker process running this job exited before it finished "
    "(killed, or out of memory); nothing it half-wrote is served, and the job is safe to "
    "submit again"
)


class _Running:
    """The job this process runs now, and the latest progress not yet written."""

    def __init__(self, job_id: str) -> None:
        self.id = job_id
        self.progress: JobProgress | None = None
        self.saved: JobProgress | None = None
        self.task: asyncio.Task[None] | None = None
        self.requeue = False
        self.cancelling = False


class SqliteJobRunner:
    name = "sqlite"

    def __init__(
        self,
        execute: JobExecutor,
        store: SqliteJobStore,
        lock: LeaderLock,
        *,
        poll_s: float = 0.25,
        cancel_wait_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._execute = execute
        self._store = store
        self._lock = lock
        self._poll_s = poll_s
        self._cancel_wait_s = cancel_wait_s
        self._clock = clock
        self._loop: asyncio.Task[None] | None = None
        self._running: _Running | None = None
        self._leading = False
        self._wake = asyncio.Event()

    @property
    def leading(self) -> bool:
        """Whether this process is the one running jobs now."""
        return self._leading

    async def start(self) -> None:
        if self._loop is None:
            self._loop = asyncio.get_running_loop().create_task(self._lead(), name="job-runner")

    async def submit(self, spec: JobSpec) -> JobState:
        state = await self._store.insert(uuid.uuid4().hex, spec)
        self._wake.set()  # the runner, if it is this process, claims it now, not next poll
        return state

    async def get(self, job_id: str) -> JobState:
        state = await self._store.get(job_id)
        if state is None:
            raise JobNotFound(
                f"no job {job_id!r} (finished jobs are kept for a while; list them "
                "with GET /admin/jobs)"
            )
        return state

    async def list(self, *, kb: str | None = None, limit: int = 50) -> builtins.list[JobState]:
        return await self._store.recent(limit, kb)

    async def cancel(self, job_id: str) -> JobState:
        state = await self.get(job_id)
        if state.finished:
            return state
        await self._store.request_cancel(job_id)
        # The runner (maybe another process) sees the flag within a poll, then aborts cleanly.
        deadline = self._clock() + self._cancel_wait_s
        while not (state := await self.get(job_id)).finished and self._clock() < deadline:
            await asyncio.sleep(self._poll_s)
        return state

    async def close(self) -> None:
        if self._loop is not None:
            self._loop.cancel()
            await asyncio.wait({self._loop}, timeout=5)
        running = self._running
        if running is not None and running.task is not None:
            if not running.cancelling:
                running.requeue = running.cancelling = True  # the next runner starts it again
                running.task.cancel()
            await asyncio.wait({running.task}, timeout=30)
        self._lock.release()
        self._store.close()

    # -- the runner ----------------------------------------------------------------------
    async def _lead(self) -> None:
        while True:
            try:
                if self._lock.try_acquire():
                    await self._lead_once()
            except SupportbotError as exc:
                logger.warning("job runner: %s", exc.message)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll_s)
            self._wake.clear()

    async def _lead_once(self) -> None:
        if not self._leading:
            abandoned = await self._store.abandon_running(ABANDONED)
            await self._store.forget_old()
            self._leading = True
            logger.info(
                "this worker (pid %d) now runs the shared jobs; %d left running by the "
                "previous runner marked failed",
                os.getpid(),
                abandoned,
            )
        running = self._running
        if running is None:
            claimed = await self._store.claim_next(str(os.getpid()))
            if claimed is not None:
                self._begin(*claimed)
            return
        if running.progress is not None and running.progress != running.saved:
            running.saved = running.progress
            await self._store.save_progress(running.id, running.progress)
        if not running.cancelling and await self._store.cancel_requested(running.id):
            running.cancelling = True  # once: a second cancel would interrupt the clean-up
            if running.task is not None:
                running.task.cancel()

    def _begin(self, job_id: str, spec: JobSpec) -> None:
        running = _Running(job_id)
        self._running = running
        running.task = asyncio.get_running_loop().create_task(
            self._run(running, spec), name=f"job-{job_id}"
        )

    async def _run(self, running: _Running, spec: JobSpec) -> None:
        def report(progress: JobProgress) -> None:
            running.progress = progress  # written by the next poll, not on every document

        try:
            result: JobResult = await self._execute(spec, report)
        except asyncio.CancelledError:
            await self._end(running, "queued" if running.requeue else "cancelled")
        except SupportbotError as exc:
            await self._end(running, "failed", error=f"{exc.code}: {exc.message}")
        except Exception as exc:  # a job's bug must not kill the runner
            logger.exception("job %s (%s) crashed", running.id, spec.kind)
            await self._end(running, "failed", error=f"internal_error: {type(exc).__name__}: {exc}")
        else:
            await self._end(running, "succeeded", result=result)

    async def _end(
        self,
        running: _Running,
        state: JobStatus,
        *,
        result: JobResult | None = None,
        error: str | None = None,
    ) -> None:
        progress = None if state == "queued" else running.progress
        try:
            await self._store.finish(
                running.id, state, progress=progress, result=result, error=error
            )
        except SupportbotError as exc:
            # Left `running`: sweep again on the next poll, which marks it abandoned.
            logger.error("job %s ended %s but could not be recorded: %s", running.id, state, exc)
            self._leading = False
        finally:
            self._running = None
            self._wake.set()  # the next queued job starts now
