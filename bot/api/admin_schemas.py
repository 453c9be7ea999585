"""Wire schemas of the admin API (knowledge bases, content, jobs)."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from bot.api.schemas import KB_PATTERN
from bot.jobs.protocol import JobProgress, JobState
from bot.kb_admin import KbOverview
from bot.sources.registry import KbSource

JOB_ID_PATTERN = r"^[0-9A-Za-z-]{1,64}$"


def _utc(timestamp: float | None) -> dt.datetime | None:
    return None if timestamp is None else dt.datetime.fromtimestamp(timestamp, dt.UTC)


class CreateKbRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kb: str = Field(pattern=KB_PATTERN, description="Lowercase letters, digits, - and _.")


class RegisterFolderRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str = Field(min_length=1, description="Folder on the server, under SOURCES_ROOT.")
    base_url: str | None = Field(None, description="Article URLs are BASE_URL/<path>.")
    resync: bool = Field(True, description="Re-ingest it periodically (Celery beat).")
    ingest: bool = Field(True, description="Queue an ingest now.")


class DeleteDocumentsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source_ids: list[str] = Field(min_length=1, max_length=1000)


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
    source: SourceOut
    job: JobOut | None


class UploadAccepted(BaseModel):
    stored: list[str] = Field(description="Files stored (their paths are the source ids).")
    skipped: dict[str, str] = Field(description="Archive members left out, and why.")
    job: JobOut
