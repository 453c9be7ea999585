"""Wire schemas of the admin API (knowledge bases, content, jobs)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, SecretStr

from bot.api.schemas import JSON_INT, KB_MAX_CHARS, KB_PATTERN, SourceId
from bot.jobs.protocol import JobProgress, JobState
from bot.kb_admin import KbOverview
from bot.sources.catalog import connector_kinds
from bot.sources.connected import ConnectedSource, SyncRun
from bot.sources.registry import KbSource

JOB_ID_PATTERN = r"^[0-9A-Za-z-]{1,64}$"


def _utc(timestamp: float | None) -> dt.datetime | None:
    return None if timestamp is None else dt.datetime.fromtimestamp(timestamp, dt.UTC)


class CreateKbRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    kb: str = Field(
        pattern=KB_PATTERN,
        max_length=KB_MAX_CHARS,
        description="Lowercase letters, digits, - and _.",
    )


class RegisterFolderRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    type: Literal["folder"] = "folder"

    path: str = Field(min_length=1, description="Folder on the server, under SOURCES_ROOT.")
    base_url: str | None = Field(None, description="Article URLs are BASE_URL/<path>.")
    resync: bool = Field(True, description="Re-ingest it periodically (Celery beat).")
    ingest: bool = Field(True, description="Queue an ingest now.")


class SecretIn(BaseModel):
    """A credential: its value (stored outside the index, mode 0600) or an env variable."""

    model_config = ConfigDict(extra="forbid", strict=True)

    value: SecretStr | None = Field(None, description="Never returned or logged.")
    env: str | None = Field(
        None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="Read where syncs run."
    )


class ConnectSourceRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    type: str = Field(
        description="Source type: git, sitemap, zendesk, intercom, freshdesk, ...",
        json_schema_extra={"enum": list[JsonValue](connector_kinds())},
    )
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="The type's options (`supportbot kb add-source "
        '--list-types` lists them), e.g. {"url": ..., "branch": "main"}.',
    )
    secrets: dict[str, SecretIn] = Field(
        default_factory=dict, description="Credentials by name; omitted ones are kept."
    )
    interval_s: Annotated[int, Field(ge=60), JSON_INT] | None = Field(
        None, description="Sync every this many seconds; null = on demand only."
    )
    ingest: bool = Field(True, description="Queue a sync now.")


SourceRequest = RegisterFolderRequest | ConnectSourceRequest


class DeleteDocumentsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    source_ids: list[SourceId] = Field(min_length=1, max_length=200)


class IndexVersion(BaseModel):
    embedding_model: str
    dimension: int
    schema_version: int


class SourceOut(BaseModel):
    kind: Literal["folder", "upload"]
    path: str
    base_url: str | None
    resync: bool
    created_at: dt.datetime | None
    last_synced_at: dt.datetime | None

    @classmethod
    def from_source(cls, s: KbSource) -> SourceOut:
        return cls(
            kind=s.kind,
            path=str(s.path),
            base_url=s.base_url,
            resync=s.resync,
            created_at=_utc(s.created_at),
            last_synced_at=_utc(s.last_synced_at),
        )


class ConnectedSourceOut(BaseModel):
    kind: str
    options: dict[str, Any]
    secrets: dict[str, str] = Field(description="How each credential is found; never its value.")
    interval_s: int | None
    created_at: dt.datetime | None
    last_synced_at: dt.datetime | None = Field(description="Last complete sync.")
    last_attempt_at: dt.datetime | None

    @classmethod
    def from_source(cls, s: ConnectedSource) -> ConnectedSourceOut:
        return cls(
            kind=s.kind,
            options=s.options,
            secrets={
                name: f"env:{ref['env']}" if "env" in ref else "stored"
                for name, ref in s.secrets.items()
            },
            interval_s=s.interval_s,
            created_at=_utc(s.created_at),
            last_synced_at=_utc(s.last_synced_at),
            last_attempt_at=_utc(s.last_attempt_at),
        )


class SyncRunOut(BaseModel):
    started_at: dt.datetime | None
    seconds: float
    status: Literal["succeeded", "failed"]
    counts: dict[str, int] = Field(description="listed, new, updated, unchanged, deleted, failed")
    failures: dict[str, str] = Field(description="Documents that failed, and why (first 50).")
    error: str | None
    forced: bool
    full: bool

    @classmethod
    def from_run(cls, r: SyncRun) -> SyncRunOut:
        return cls(
            started_at=_utc(r.started_at),
            seconds=r.seconds,
            status=r.status,
            counts=r.counts,
            failures=r.failures,
            error=r.error,
            forced=r.forced,
            full=r.full,
        )


class JobProgressOut(BaseModel):
    phase: str
    done: int
    total: int
    current: str | None

    @classmethod
    def from_progress(cls, p: JobProgress) -> JobProgressOut:
        return cls(phase=p.phase, done=p.done, total=p.total, current=p.current)


class JobOut(BaseModel):
    id: str
    kind: str
    kb: str | None
    state: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    progress: JobProgressOut | None
    result: dict[str, object] | None
    error: str | None
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def from_state(cls, j: JobState) -> JobOut:
        return cls(
            id=j.id,
            kind=j.kind,
            kb=j.kb,
            state=j.state,
            progress=JobProgressOut.from_progress(j.progress) if j.progress else None,
            result=dict(j.result) if j.result is not None else None,
            error=j.error,
            created_at=_utc(j.created_at) or dt.datetime.now(dt.UTC),
            updated_at=_utc(j.updated_at) or dt.datetime.now(dt.UTC),
        )


class KbDetail(BaseModel):
    kb: str
    documents: int
    chunks: int
    last_indexed: str | None
    index: IndexVersion | None = Field(description="What the served index was built with.")
    source: SourceOut | None = Field(description="What re-index and re-sync read from.")
    jobs: list[JobOut] = Field(default_factory=list, description="Latest jobs of this KB.")
    connected_source: ConnectedSourceOut | None = Field(
        None, description="Git / website / helpdesk source it syncs from (instead of `source`)."
    )
    sync_history: list[SyncRunOut] = Field(
        default_factory=list, description="Latest syncs of the connected source, newest first."
    )

    @classmethod
    def from_overview(cls, overview: KbOverview) -> KbDetail:
        stats, source, jobs = overview.stats, overview.source, overview.jobs
        info = stats.index
        return cls(
            kb=stats.kb,
            documents=stats.documents,
            chunks=stats.chunks,
            last_indexed=stats.last_indexed,
            index=(
                IndexVersion(
                    embedding_model=info.embedding_model,
                    dimension=info.dimension,
                    schema_version=info.schema_version,
                )
                if info
                else None
            ),
            source=SourceOut.from_source(source) if source else None,
            jobs=[JobOut.from_state(j) for j in jobs],
            connected_source=(
                ConnectedSourceOut.from_source(overview.connected) if overview.connected else None
            ),
            sync_history=[SyncRunOut.from_run(run) for run in overview.history],
        )


class DocumentOut(BaseModel):
    source_id: str
    doc_hash: str


class DocumentList(BaseModel):
    kb: str
    total: int
    documents: list[DocumentOut]


class JobAccepted(BaseModel):
    job: JobOut


class SourceRegistered(BaseModel):
    source: SourceOut | ConnectedSourceOut
    job: JobOut | None


class UploadAccepted(BaseModel):
    stored: list[str] = Field(description="Files stored (their paths are the source ids).")
    skipped: dict[str, str] = Field(description="Archive members left out, and why.")
    job: JobOut
