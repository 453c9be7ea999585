"""SqliteJobStore: the jobs of every API worker, in the shared-state file (no Redis).

One row per job in `shared_state.sqlite` (the file the workers already share for rate
limits and conversations): its spec, state, latest progress, result or error, which
process runs it, and whether someone asked to cancel it. Any worker inserts and reads
rows; only the process holding the runner lock (`LeaderLock`) claims and finishes them,
so claiming needs no more than one atomic UPDATE.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from bot.cache.sqlite_state import SQLITE_FAILURES, SqliteStateFile, immediate
from bot.errors import BackendUnavailable
from bot.jobs.protocol import JobProgress, JobResult, JobSpec, JobState, JobStatus

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS jobs ("
    " id TEXT PRIMARY KEY, kind TEXT NOT NULL, kb TEXT, spec TEXT NOT NULL,"
    " state TEXT NOT NULL, progress TEXT, result TEXT, error TEXT,"
    " runner TEXT, cancel_requested INTEGER NOT NULL DEFAULT 0,"
    " created_at REAL NOT NULL, updated_at REAL NOT NULL)",
    "CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs (state, created_at)",
    "CREATE INDEX IF NOT EXISTS jobs_by_created ON jobs (created_at)",
)
T = TypeVar("T")

_COLUMNS = "id, kind, kb, state, progress, result, error, created_at, updated_at"
_FINISHED_SQL = "('succeeded', 'failed', 'cancelled')"


class SqliteJobStore:
    def __init__(
        self,
        path: Path,
        *,
        retention_s: float,
        busy_timeout_s: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._file = SqliteStateFile(path, _SCHEMA, busy_timeout_s=busy_timeout_s)
        self._retention_s = retention_s
        self._clock = clock

    @property
    def path(self) -> Path:
        return self._file.path

    # -- any worker ---------------------------------------------------------------------
    async def insert(self, job_id: str, spec: JobSpec) -> JobState:
        now = self._clock()
        row = (job_id, spec.kind, spec.kb, json.dumps(spec.to_json()), "queued", now, now)
        await self._run(
            lambda c: c.execute(
                "INSERT INTO jobs (id, kind, kb, spec, state, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                row,
            )
        )
        return JobState(job_id, spec.kind, spec.kb, "queued", None, None, None, now, now)

    async def get(self, job_id: str) -> JobState | None:
        rows = await self._run(
            lambda c: c.execute(f"SELECT {_COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchall()
        )
        return _state(rows[0]) if rows else None

    async def recent(self, limit: int, kb: str | None = None) -> list[JobState]:
        """Newest first."""
        if kb is None:
            query, args = f"SELECT {_COLUMNS} FROM jobs ORDER BY created_at DESC LIMIT ?", (limit,)
        else:
            query = f"SELECT {_COLUMNS} FROM jobs WHERE kb = ? ORDER BY created_at DESC LIMIT ?"
            args = (kb, limit)  # type: ignore[assignment]
        rows = await self._run(lambda c: c.execute(query, args).fetchall())
        return [_state(row) for row in rows]

    async def request_cancel(self, job_id: str) -> None:
        """A queued job is cancelled at once; a running one when its runner sees the flag."""
        now = self._clock()

        def cancel(conn: sqlite3.Connection) -> None:
            with immediate(conn):
                conn.execute(
                    "UPDATE jobs SET state = 'cancelled', updated_at = ?"
                    " WHERE id = ? AND state = 'queued'",
                    (now, job_id),
                )
                conn.execute(
                    f"UPDATE jobs SET cancel_requested = 1 WHERE id = ?"
                    f" AND state NOT IN {_FINISHED_SQL}",
                    (job_id,),
                )

        await self._run(cancel)

    # -- the runner (lock holder) only ---------------------------------------------------
    async def abandon_running(self, reason: str) -> int:
        """Fail every job left `running` by a runner that is gone; how many."""
        now = self._clock()
        cursor = await self._run(
            lambda c: c.execute(
                "UPDATE jobs SET state = 'failed', error = ?, updated_at = ?"
                " WHERE state = 'running'",
                (reason, now),
            )
        )
        return int(cursor.rowcount)

    async def claim_next(self, runner: str) -> tuple[str, JobSpec] | None:
        """The oldest queued job, now marked running by `runner`."""
        now = self._clock()
        rows = await self._run(
            lambda c: c.execute(
                "UPDATE jobs SET state = 'running', runner = ?, updated_at = ? WHERE id = ("
                " SELECT id FROM jobs WHERE state = 'queued' ORDER BY created_at LIMIT 1)"
                " RETURNING id, spec",
                (runner, now),
            ).fetchall()
        )
        if not rows:
            return None
        job_id, spec = rows[0]
        return str(job_id), JobSpec.from_json(json.loads(spec))

    async def cancel_requested(self, job_id: str) -> bool:
        rows = await self._run(
            lambda c: c.execute(
                "SELECT cancel_requested FROM jobs WHERE id = ?", (job_id,)
            ).fetchall()
        )
        return bool(rows and rows[0][0])

    async def save_progress(self, job_id: str, progress: JobProgress) -> None:
        payload, now = json.dumps(progress.to_json()), self._clock()
        await self._run(
            lambda c: c.execute(
                "UPDATE jobs SET progress = ?, updated_at = ? WHERE id = ? AND state = 'running'",
                (payload, now, job_id),
            )
        )

    async def finish(
        self,
        job_id: str,
        state: JobStatus,
        *,
        progress: JobProgress | None = None,
        result: JobResult | None = None,
        error: str | None = None,
    ) -> None:
        """Record how the job ended (`queued` again: hand it to the next runner)."""
        values = (
            state,
            None if progress is None else json.dumps(progress.to_json()),
            None if result is None else json.dumps(result),
            error,
            self._clock(),
            job_id,
        )
        await self._run(
            lambda c: c.execute(
                "UPDATE jobs SET state = ?, progress = ?, result = ?,"
                " error = ?, updated_at = ?, runner = NULL WHERE id = ?",
                values,
            )
        )

    async def forget_old(self) -> None:
        cutoff = self._clock() - self._retention_s
        await self._run(
            lambda c: c.execute(
                f"DELETE FROM jobs WHERE state IN {_FINISHED_SQL} AND updated_at < ?", (cutoff,)
            )
        )

    def close(self) -> None:
        self._file.close()

    async def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        try:
            return await self._file.run(work)
        except SQLITE_FAILURES as exc:
            raise BackendUnavailable(
                f"the job table in {self._file.path} is unusable ({exc}); check the data "
                "dir's disk space and permissions"
            ) from exc


def _state(row: tuple[object, ...]) -> JobState:
    job_id, kind, kb, state, progress, result, error, created_at, updated_at = row
    spec = JobSpec.from_json({"kind": kind, "kb": kb})
    return JobState(
        id=str(job_id),
        kind=spec.kind,
        kb=spec.kb,
        state=_status(state),
        progress=JobProgress.from_json(json.loads(str(progress))) if progress else None,
        result=json.loads(str(result)) if result else None,
        error=None if error is None else str(error),
        created_at=float(created_at),  # type: ignore[arg-type]
        updated_at=float(updated_at),  # type: ignore[arg-type]
    )


def _status(value: object) -> JobStatus:
    statuses: tuple[JobStatus, ...] = ("queued", "running", "succeeded", "failed", "cancelled")
    for status in statuses:
        if value == status:
            return status
    raise ValueError(f"unknown job state {value!r} in the job table")
