"""The Celery tasks: thin wrappers that run the shared job functions (`bot.jobs.work`).

Tasks take ids and paths, never objects, and are idempotent (see `bot.jobs.work`), which
is what makes `acks_late` redelivery safe. A `BackendUnavailable` (search backend or Redis
down) is retried with exponential backoff, a bounded number of times, except a
`BackendBlocked` (an index made read-only by a full disk: nothing changes until an
operator acts), which fails the job at once with what to do; any other error
fails the job with its message, and so does a job whose process died
`celery_max_worker_deaths` times in a row running it. Progress goes to the result backend
as state `PROGRESS`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from celery import Task
from celery.exceptions import Ignore

from bot.errors import BackendBlocked, BackendUnavailable, JobAbandoned
from bot.jobs.celery_runner import CANCELLED, PROGRESS, TASK_NAMES
from bot.jobs.protocol import JobSpec
from bot.jobs.records import RedisJobRecords
from workers.context import worker_context
from workers.progress import CeleryProgress

if TYPE_CHECKING:
    from workers.celery_app import SupportbotCelery

logger = logging.getLogger(__name__)

FINISHED_STATES = frozenset({"SUCCESS", "FAILURE", "REVOKED", CANCELLED})


def register_tasks(app: SupportbotCelery) -> None:
    options: dict[str, Any] = {
        "bind": True,
        "acks_late": True,
        "reject_on_worker_lost": True,
        "autoretry_for": (BackendUnavailable,),
        "dont_autoretry_for": (BackendBlocked,),
        "retry_backoff": 2,
        "retry_backoff_max": 120,
        "retry_jitter": True,
        "max_retries": app.settings.celery_task_max_retries,
    }

    @app.task(name=TASK_NAMES["ingest"], **options)
    def ingest_source(self: Task, kb: str, path: str, base_url: str | None = None) -> object:
        """Incremental ingest of a folder or .zip into `kb`."""
        return execute(self, JobSpec("ingest", kb, path=path, base_url=base_url))

    @app.task(name=TASK_NAMES["reindex"], **options)
    def reindex_kb(self: Task, kb: str) -> object:
        """Zero-downtime full re-index of `kb` from its registered source."""
        return execute(self, JobSpec("reindex", kb))

    @app.task(name=TASK_NAMES["delete_documents"], **options)
    def delete_documents(self: Task, kb: str, source_ids: list[str]) -> object:
        return execute(self, JobSpec("delete_documents", kb, source_ids=tuple(source_ids)))

    @app.task(name=TASK_NAMES["sync"], **options)
    def sync_source(self: Task, kb: str, force: bool = False, full: bool = False) -> object:
        """One sync of `kb` from its connected source (Git, website, helpdesk)."""
        return execute(self, JobSpec("sync", kb, force=force, full=full))

    @app.task(name=TASK_NAMES["sync_due"], **options)
    def sync_due_sources(self: Task) -> object:
        """Run by beat: sync every connected source whose schedule says it is due."""
        return execute(self, JobSpec("sync_due", None))

    @app.task(name=TASK_NAMES["resync"], **options)
    def resync_sources(self: Task) -> object:
        """Run by beat: incremental ingest of every KB whose source is marked for re-sync."""
        return execute(self, JobSpec("resync", None))


def execute(task: Task, spec: JobSpec) -> dict[str, object]:
    job_id = task.request.id
    context = worker_context(task.app)
    finished = task.AsyncResult(job_id).state
    if finished in FINISHED_STATES:
        # A copy redelivered after the job ended (the broker's visibility timeout ran out
        # while it was queued or running): keep the recorded outcome, do not run it again.
        logger.warning("job %s is already %s; ignoring a redelivered copy", job_id, finished)
        raise Ignore()
    # Jobs started by beat (or a redelivered task whose record expired) get a record too.
    context.records.create(job_id, spec, only_if_missing=True)
    progress = CeleryProgress(task, job_id, context.records)
    if context.records.cancel_requested(job_id):
        _stop_cancelled(progress)
    _give_up_after_worker_deaths(context.records, job_id, context.settings.celery_max_worker_deaths)
    try:
        progress.publish(PROGRESS, progress.meta(phase="starting", done=0, total=0))
        result = context.run(spec, progress, progress.bind, trace_headers_of(task))
    except asyncio.CancelledError:
        _stop_cancelled(progress)
    finally:
        _finish_run(context.records, job_id)
    return {
        "result": dict(result),
        "progress": progress.last.to_json() if progress.last else None,
        "updated_at": time.time(),
    }


def _give_up_after_worker_deaths(records: RedisJobRecords, job_id: str, limit: int) -> None:
    """Fail a job whose process died `limit` times running it, rather than requeue it forever.

    `acks_late` + `reject_on_worker_lost` put a task back whenever its process dies; one that
    kills the process every time (out of memory on a huge upload, a crashing parser) would
    otherwise loop for good. Raising fails the job; the old index keeps serving.
    """
    deaths = records.start_run(job_id)
    if deaths >= limit:
        _finish_run(records, job_id)
        raise JobAbandoned(
            f"the worker process died {deaths} times running this job (killed: out of memory? "
            "crashed?), so it was not run again; see the worker logs, fix the cause and "
            "submit the job again"
        )
    if deaths:
        logger.warning(
            "job %s: run %d; its worker process died %d times", job_id, deaths + 1, deaths
        )


def _finish_run(records: RedisJobRecords, job_id: str) -> None:
    try:
        records.finish_run(job_id)
    except BackendUnavailable as exc:  # never mask the job's own outcome
        logger.warning("job %s: cannot record that its run ended: %s", job_id, exc.message)


def trace_headers_of(task: Task) -> dict[str, object]:
    """The W3C trace headers sent with the message (Celery keeps custom headers on the
    request itself; older protocol versions under `request.headers`)."""
    request = task.request
    nested = getattr(request, "headers", None) or {}
    found: dict[str, object] = {}
    for name in ("traceparent", "tracestate"):
        value = getattr(request, name, None) or nested.get(name)
        if value is not None:
            found[name] = value
    return found


def _stop_cancelled(progress: CeleryProgress) -> None:
    """Record the job as cancelled and tell Celery not to overwrite that state."""
    progress.publish(CANCELLED, progress.meta(error="cancelled on request"))
    raise Ignore()
