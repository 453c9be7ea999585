"""The job runner role: submit background work, follow its progress, cancel it.

    JobSpec ──submit──▶ JobRunner ──▶ queued ─▶ running (progress) ─▶ succeeded | failed
                                          └──────────cancel──────────▶ cancelled

Three runners share this protocol and the same job functions (`bot.jobs.work`):
`InProcessJobRunner` (asyncio tasks in the API process, the default),
`SqliteJobRunner` (one of several API worker processes runs them, shared through the
data dir) and `CeleryJobRunner` (Celery workers over Redis). A spec carries ids and paths
only, so it serialises to JSON and a re-run is idempotent.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal, Protocol, get_args

JobKind = Literal["ingest", "reindex", "delete_documents", "resync", "sync", "sync_due"]
JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]
FINISHED: frozenset[JobStatus] = frozenset({"succeeded", "failed", "cancelled"})
JOB_KINDS: tuple[JobKind, ...] = get_args(JobKind)

JobResult = Mapping[str, object]
"""A JSON summary of what the job did (counts, ids, seconds); its shape depends on the kind."""


@dataclass(frozen=True, slots=True)
class JobSpec:
    kind: JobKind
    kb: str | None
    """None only for `resync` and `sync_due`, which visit every KB due for a sync."""
    path: str | None = None
    """`ingest`: the folder or .zip to read (server-side)."""
    base_url: str | None = None
    source_ids: tuple[str, ...] = ()
    """`delete_documents`: the documents to remove."""
    force: bool = False
    """`sync`: accept a listing far smaller than the last one."""
    full: bool = False
    """`sync`: ignore the connector's cursors and ETags, fetch everything."""

    def to_json(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "kb": self.kb,
            "path": self.path,
            "base_url": self.base_url,
            "source_ids": list(self.source_ids),
            "force": self.force,
            "full": self.full,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> JobSpec:
        kind = data["kind"]
        if kind not in JOB_KINDS:
            raise ValueError(f"unknown job kind {kind!r}")
        ids = data.get("source_ids") or []
        if not isinstance(ids, list):
            raise ValueError("source_ids must be a list")
        return cls(
            kind=kind,
            kb=_optional_str(data.get("kb")),
            path=_optional_str(data.get("path")),
            base_url=_optional_str(data.get("base_url")),
            source_ids=tuple(str(i) for i in ids),
            force=bool(data.get("force")),
            full=bool(data.get("full")),
        )


@dataclass(frozen=True, slots=True)
class JobProgress:
    phase: str
    """parsing, chunking, embedding, indexing, deleting, committing (or the KB, in resync)."""
    done: int
    total: int
    current: str | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "phase": self.phase,
            "done": self.done,
            "total": self.total,
            "current": self.current,
        }

    @classmethod
    def from_json(cls, data: object) -> JobProgress | None:
        if not isinstance(data, Mapping) or "phase" not in data:
            return None
        return cls(
            str(data["phase"]),
            int(data.get("done") or 0),
            int(data.get("total") or 0),
            _optional_str(data.get("current")),
        )


@dataclass(frozen=True, slots=True)
class JobState:
    id: str
    kind: JobKind
    kb: str | None
    state: JobStatus
    progress: JobProgress | None
    result: JobResult | None
    error: str | None
    created_at: float
    updated_at: float

    @property
    def finished(self) -> bool:
        return self.state in FINISHED


ProgressSink = Callable[[JobProgress], None]


class JobRunner(Protocol):
    name: str

    async def start(self) -> None:
        """Begin background work, in the serving process's event loop (the API lifespan)."""
        ...

    async def submit(self, spec: JobSpec) -> JobState:
        """Queue the job; raise BackendUnavailable when the queue cannot be reached."""
        ...

    async def get(self, job_id: str) -> JobState:
        """Raise JobNotFound for an unknown (or long-forgotten) id."""
        ...

    async def list(self, *, kb: str | None = None, limit: int = 50) -> list[JobState]:
        """Newest first."""
        ...

    async def cancel(self, job_id: str) -> JobState:
        """Stop a queued or running job; a finished job is returned unchanged."""
        ...

    async def close(self) -> None: ...


def _optional_str(value: object) -> str | None:
    return None if value is None else str(value)
