"""CeleryJobRunner: jobs run by Celery workers; state and progress read from Celery.

`submit` records the job (`RedisJobRecords`) and sends the task by name, so the API
never imports task code. `get` reads Celery's result backend: the worker reports
`PROGRESS` with {phase, done, total, current} while it runs, and returns
{result, progress} when done. Cancelling sets the job's cancel flag (the task polls it
and aborts cleanly, dropping a half-built index) and revokes the task in case a worker
has not received it yet. Celery's calls block, so they run in a thread.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import datetime as dt
import uuid
from collections.abc import Mapping

from celery import Celery
from kombu.exceptions import OperationalError

from bot.errors import BackendUnavailable, JobNotFound, SupportbotError
from bot.jobs.protocol import JobKind, JobProgress, JobSpec, JobState, JobStatus
from bot.jobs.records import REDIS_ERRORS, JobRecord, RedisJobRecords
from bot.observability.tracing import trace_headers

TASK_NAMES: dict[JobKind, str] = {
    "ingest": "supportbot.ingest_source",
    "reindex": "supportbot.reindex_kb",
    "delete_documents": "supportbot.delete_documents",
    "resync": "supportbot.resync_sources",
    "sync": "supportbot.sync_source",
    "sync_due": "supportbot.sync_due_sources",
}
PROGRESS = "PROGRESS"
CANCELLED = "CANCELLED"
"""Custom Celery states the tasks set (REVOKED is Celery's own, for never-started tasks)."""

_STATUS: dict[str, JobStatus] = {
    "PENDING": "queued",
    "RECEIVED": "queued",
    "RETRY": "queued",
    "STARTED": "running",
    PROGRESS: "running",
    "SUCCESS": "succeeded",
    "FAILURE": "failed",
    "REVOKED": "cancelled",
    CANCELLED: "cancelled",
}


def task_kwargs(spec: JobSpec) -> dict[str, object]:
    """Ids and paths only: what the task needs to redo the work from scratch."""
    if spec.kind == "ingest":
        return {"kb": spec.kb, "path": spec.path, "base_url": spec.base_url}
    if spec.kind == "reindex":
        return {"kb": spec.kb}
    if spec.kind == "sync":
        return {"kb": spec.kb, "force": spec.force, "full": spec.full}
    if spec.kind == "delete_documents":
        return {"kb": spec.kb, "source_ids": list(spec.source_ids)}
    return {}


class CeleryJobRunner:
    name = "celery"

    def __init__(self, app: Celery, records: RedisJobRecords) -> None:
        self._app = app
        self._records = records

    async def start(self) -> None:
        return None  # the Celery workers run the jobs

    async def submit(self, spec: JobSpec) -> JobState:
        return await asyncio.to_thread(self._submit, spec)

    async def get(self, job_id: str) -> JobState:
        return await asyncio.to_thread(self._get, job_id)

    async def list(self, *, kb: str | None = None, limit: int = 50) -> list[JobState]:
        return await asyncio.to_thread(self._list, kb, limit)

    async def cancel(self, job_id: str) -> JobState:
        return await asyncio.to_thread(self._cancel, job_id)

    async def close(self) -> None:
        await asyncio.to_thread(self._close)

    # -- blocking ---------------------------------------------------------------------
    def _submit(self, spec: JobSpec) -> JobState:
        job_id = uuid.uuid4().hex
        record = self._records.create(job_id, spec)
        try:
            self._app.send_task(
                TASK_NAMES[spec.kind],
                kwargs=task_kwargs(spec),
                task_id=job_id,
                headers=trace_headers(),  # the worker's job span joins the request's trace
            )
        except (OperationalError, *REDIS_ERRORS) as exc:
            with contextlib.suppress(BackendUnavailable):  # the records' Redis may be down too
                self._records.discard(job_id)
            raise BackendUnavailable(
                f"cannot queue the {spec.kind} job: the Celery broker is unreachable ({exc}); "
                "check SUPPORTBOT_CELERY_BROKER_URL and that the broker is running, then "
                "submit the job again"
            ) from exc
        return _queued(record)

    def _get(self, job_id: str) -> JobState:
        record = self._records.get(job_id)
        if record is None:
            raise JobNotFound(
                f"no job {job_id!r} (finished jobs are kept for a while; list them "
                "with GET /admin/jobs)"
            )
        return self._state(record)

    def _list(self, kb: str | None, limit: int) -> builtins.list[JobState]:
        return [self._state(record) for record in self._records.recent(limit, kb)]

    def _cancel(self, job_id: str) -> JobState:
        state = self._get(job_id)
        if state.finished:
            return state
        self._records.request_cancel(job_id)
        try:
            self._app.control.revoke(job_id)
        except (OperationalError, *REDIS_ERRORS) as exc:
            raise BackendUnavailable(f"cannot reach the Celery broker to cancel: {exc}") from exc
        return self._get(job_id)

    def _close(self) -> None:
        self._records.close()
        self._app.close()

    def _state(self, record: JobRecord) -> JobState:
        try:
            meta = self._app.backend.get_task_meta(record.id)
        except (OperationalError, *REDIS_ERRORS) as exc:
            raise BackendUnavailable(
                f"cannot read job {record.id}'s state: Celery's result backend is unreachable "
                f"({type(exc).__name__}: {exc}); check SUPPORTBOT_CELERY_RESULT_BACKEND (or, "
                "unset, SUPPORTBOT_CELERY_BROKER_URL) and that its Redis is running, then retry"
            ) from exc
        celery_state = str(meta.get("status") or "PENDING")
        status = _STATUS.get(celery_state, "running")
        if status == "queued" and record.cancel_requested:
            status = "cancelled"
        payload = meta.get("result")
        progress, result, error = None, None, None
        if isinstance(payload, Mapping):
            progress = JobProgress.from_json(payload.get("progress", payload))
            if status == "succeeded" and isinstance(payload.get("result"), Mapping):
                result = dict(payload["result"])
            error = _optional(payload.get("error"))
        elif isinstance(payload, BaseException):
            error = _describe(payload)
            if celery_state == "RETRY":
                error = f"retrying after: {error}"
        return JobState(
            id=record.id,
            kind=record.spec.kind,
            kb=record.spec.kb,
            state=status,
            progress=progress,
            result=result,
            error=error,
            created_at=record.created_at,
            updated_at=_updated_at(meta, payload, record.created_at),
        )


def _queued(record: JobRecord) -> JobState:
    return JobState(
        record.id, record.spec.kind, record.spec.kb, "queued", None, None, None,
        record.created_at, record.created_at,
    )  # fmt: skip


def _describe(exc: BaseException) -> str:
    if isinstance(exc, SupportbotError):
        return f"{exc.code}: {exc.message}"
    return f"{type(exc).__name__}: {exc}"


def _optional(value: object) -> str | None:
    return None if value is None else str(value)


def _updated_at(meta: Mapping[str, object], payload: object, default: float) -> float:
    if isinstance(payload, Mapping) and isinstance(payload.get("updated_at"), int | float):
        return float(payload["updated_at"])
    done = meta.get("date_done")
    if isinstance(done, dt.datetime):
        return (done if done.tzinfo else done.replace(tzinfo=dt.UTC)).timestamp()
    if isinstance(done, str):
        try:
            parsed = dt.datetime.fromisoformat(done)
        except ValueError:
            return default
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)).timestamp()
    return default
