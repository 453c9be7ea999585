"""The job functions, shared by the in-process runner and the Celery tasks.

Each is idempotent: ingest compares content hashes (unchanged documents are skipped, so a
re-run adds no chunks), a re-index builds a fresh index that replaces the served one
only when complete (a re-run drops the half-built one first), and deleting documents
that are already gone deletes nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from bot.errors import IngestionError, InvalidRequest, SupportbotError
from bot.jobs.protocol import JobProgress, JobResult, JobSpec, ProgressSink
from bot.observability.protocol import NO_OBSERVER, Observer
from bot.retrieval.protocol import SearchBackend
from bot.sources.connected import ConnectedSources
from bot.sources.registry import SourceRegistry
from bot.sources.sync import SyncEngine
from bot.sources.uploads import remove_uploaded
from ingestion.ingest import Ingestor
from ingestion.report import IngestProgress, IngestReport, ProgressCallback

logger = logging.getLogger(__name__)

MAX_REPORTED_FAILURES = 50


@dataclass(frozen=True, slots=True)
class JobContext:
    """What the job functions need; both runners build it from `Services`."""

    backend: SearchBackend
    ingestor: Ingestor
    sources: SourceRegistry
    sync: SyncEngine
    connected: ConnectedSources
    observer: Observer = field(default=NO_OBSERVER, compare=False)


async def run_job(spec: JobSpec, ctx: JobContext, progress: ProgressSink) -> JobResult:
    """Run one job and report its duration, final status and document counts."""
    started = time.perf_counter()
    status = "failed"
    result: JobResult | None = None
    try:
        result = await _dispatch(spec, ctx, progress)
        status = "succeeded"
        return result
    except asyncio.CancelledError:
        status = "cancelled"
        raise
    finally:
        ctx.observer.job_finished(spec.kind, status, time.perf_counter() - started, result)


async def _dispatch(spec: JobSpec, ctx: JobContext, progress: ProgressSink) -> JobResult:
    if spec.kind == "resync":
        return await resync_sources(ctx, progress)
    if spec.kind == "sync_due":
        return await sync_due_sources(ctx, progress)
    if not spec.kb:
        raise InvalidRequest(f"a {spec.kind} job needs a knowledge base")
    if spec.kind == "ingest":
        if not spec.path:
            raise InvalidRequest("an ingest job needs the path of its source")
        return await ingest_source(ctx, spec.kb, Path(spec.path), spec.base_url, progress)
    if spec.kind == "sync":
        return await sync_source(ctx, spec.kb, progress, force=spec.force, full=spec.full)
    if spec.kind == "reindex":
        return await reindex_kb(ctx, spec.kb, progress)
    return await delete_documents(ctx, spec.kb, spec.source_ids, progress)


async def ingest_source(
    ctx: JobContext, kb: str, path: Path, base_url: str | None, progress: ProgressSink
) -> JobResult:
    report = await ctx.ingestor.ingest(kb, path, base_url=base_url, progress=_adapt(progress))
    source = await asyncio.to_thread(ctx.sources.get, kb)
    if source is not None and source.path == path:
        await asyncio.to_thread(ctx.sources.mark_synced, kb)
    return report_result(report)


async def reindex_kb(ctx: JobContext, kb: str, progress: ProgressSink) -> JobResult:
    source = await asyncio.to_thread(ctx.sources.get, kb)
    if source is None:
        raise IngestionError(
            f"knowledge base {kb!r} has no registered source to re-index from; upload its "
            "files or register a server folder first (POST /admin/kbs/{kb}/uploads or PUT "
            "/admin/kbs/{kb}/source)"
        )
    report = await ctx.ingestor.rebuild(
        kb, source.path, base_url=source.base_url, progress=_adapt(progress)
    )
    await asyncio.to_thread(ctx.sources.mark_synced, kb)
    stats = await ctx.backend.stats(kb)
    return {
        **report_result(report),
        "documents": stats.documents,
        "indexed_chunks": stats.chunks,
        "last_indexed": stats.last_indexed,
    }


async def delete_documents(
    ctx: JobContext, kb: str, source_ids: tuple[str, ...], progress: ProgressSink
) -> JobResult:
    progress(JobProgress("deleting", 0, len(source_ids)))
    deleted = await ctx.backend.delete_documents(kb, list(source_ids))
    source = await asyncio.to_thread(ctx.sources.get, kb)
    removed: list[str] = []
    if source is not None and source.kind == "upload":
        # Otherwise the next re-index would bring them back from the stored files.
        removed = await asyncio.to_thread(remove_uploaded, source.path, source_ids)
    progress(JobProgress("deleting", len(source_ids), len(source_ids)))
    return {"deleted": deleted, "files_removed": removed}


async def resync_sources(ctx: JobContext, progress: ProgressSink) -> JobResult:
    """Incrementally re-ingest every KB whose source is marked for re-sync."""
    sources = await asyncio.to_thread(ctx.sources.list, resync_only=True)
    outcomes: dict[str, object] = {}
    for done, source in enumerate(sources):
        progress(JobProgress("resync", done, len(sources), source.kb))
        try:
            outcomes[source.kb] = await ingest_source(
                ctx, source.kb, source.path, source.base_url, lambda _: None
            )
        except SupportbotError as exc:
            logger.warning("re-sync of KB %s failed: %s", source.kb, exc.message)
            outcomes[source.kb] = {"error": f"{exc.code}: {exc.message}"}
    progress(JobProgress("resync", len(sources), len(sources)))
    return {"kbs": outcomes}


async def sync_source(
    ctx: JobContext, kb: str, progress: ProgressSink, *, force: bool = False, full: bool = False
) -> JobResult:
    run = await ctx.sync.sync(kb, force=force, full=full, progress=_adapt(progress))
    return {
        **run.counts,
        "failed": run.failures,
        "failed_count": run.counts["failed"],
        "seconds": run.seconds,
        "run_id": run.id,
    }


async def sync_due_sources(ctx: JobContext, progress: ProgressSink) -> JobResult:
    """Sync every connected source whose interval has elapsed; one failure stops none."""
    now = time.time()
    due = [s for s in await asyncio.to_thread(ctx.connected.list) if s.due(now)]
    outcomes: dict[str, object] = {}
    for done, source in enumerate(due):
        progress(JobProgress("sync", done, len(due), source.kb))
        try:
            outcomes[source.kb] = await sync_source(ctx, source.kb, lambda _: None)
        except SupportbotError as exc:  # recorded in the source's history by the engine
            outcomes[source.kb] = {"error": f"{exc.code}: {exc.message}"}
    progress(JobProgress("sync", len(due), len(due)))
    return {"kbs": outcomes}


def report_result(report: IngestReport) -> JobResult:
    failed = dict(sorted(report.failed.items())[:MAX_REPORTED_FAILURES])
    return {
        "new": len(report.new),
        "updated": len(report.updated),
        "unchanged": len(report.unchanged),
        "deleted": len(report.deleted),
        "ignored": len(report.ignored),
        "failed": failed,
        "failed_count": len(report.failed),
        "chunks_written": report.chunks,
        "seconds": round(report.seconds, 2),
        "embed_seconds": round(report.embed_seconds, 2),
    }


def _adapt(progress: ProgressSink) -> ProgressCallback:
    def forward(p: IngestProgress) -> None:
        progress(JobProgress(p.phase, p.done, p.total, p.current))

    return forward
