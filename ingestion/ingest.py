"""Ingestor: a help-center folder or zip → the search index of one knowledge base.

`ingest` is incremental (documents whose content hash is unchanged are skipped, edited
ones are replaced, removed ones deleted); `rebuild` re-indexes everything into a fresh
index that only replaces the served one when complete. Either way a document that
cannot be parsed is reported and its previously indexed version is kept, while one that
matches an ignore pattern is removed like a deleted one: the admin said it is no article.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from pathlib import Path

from bot.domain import Chunk, IndexInfo, ParsedDocument
from bot.embedding.protocol import Embedder
from bot.errors import IngestionError, KnowledgeBaseNotFound
from bot.rerank.protocol import TokenVectorSink
from bot.retrieval.protocol import IndexBuild, SearchBackend
from ingestion.chunking import Chunker
from ingestion.collect import Collection, collect_documents
from ingestion.embed_writer import EmbedWriter, WriteDocuments
from ingestion.ignore import source_rules
from ingestion.parsing import DocumentParser
from ingestion.report import (
    CHUNKING,
    COMMITTING,
    DELETING,
    PARSING,
    IngestProgress,
    IngestReport,
    ProgressCallback,
)
from ingestion.sources import open_source

__all__ = ["IngestProgress", "IngestReport", "Ingestor", "ProgressCallback"]


class Ingestor:
    def __init__(
        self,
        backend: SearchBackend,
        embedder: Embedder,
        chunker: Chunker,
        *,
        batch_size: int = 64,
        token_sink: TokenVectorSink | None = None,
        parser: DocumentParser | None = None,
        ignore: Sequence[str] = (),
    ) -> None:
        """`ignore`: patterns for every source (settings); each source's `.supportbotignore`
        and each run's `ignore` come after them, so they can re-include with `!`."""
        self._backend = backend
        self._embedder = embedder
        self._chunker = chunker
        self._batch_size = batch_size
        self._token_sink = token_sink
        self._parser = parser or DocumentParser()
        self._ignore = tuple(ignore)

    async def ingest(
        self,
        kb: str,
        source: Path,
        *,
        base_url: str | None = None,
        progress: ProgressCallback | None = None,
        ignore: Sequence[str] = (),
    ) -> IngestReport:
        started = time.perf_counter()
        # Parse first: a wrong path fails before the KB is created.
        collection = await self._collect(source, base_url, progress, ignore)
        existing = await self.indexed_hashes(kb)
        _refuse_empty_source(collection, existing, kb, source)
        return await self.apply(kb, collection, existing, progress=progress, started=started)

    async def indexed_hashes(self, kb: str) -> dict[str, str]:
        """Create the KB when missing; the content hash of every document it holds."""
        info: IndexInfo = await asyncio.to_thread(self._embedder.index_info)
        await self._backend.ensure_kb(kb, info)
        return await self._backend.document_hashes(kb)

    async def apply(
        self,
        kb: str,
        collection: Collection,
        existing: dict[str, str],
        *,
        progress: ProgressCallback | None = None,
        delete: bool = True,
        started: float | None = None,
    ) -> IngestReport:
        """Write what is new or changed in `collection`; with `delete`, remove what is
        indexed but no longer in it (callers pass False for an incomplete listing)."""
        started = time.perf_counter() if started is None else started
        report = _classify(kb, collection, existing)
        changed_ids = {*report.new, *report.updated}
        changed = [doc for doc in collection.documents if doc.source_id in changed_ids]
        chunked = await self._chunk(kb, changed, report, progress)
        await self._embed_and_write(chunked, report, progress, self._upsert(kb))
        present = _present(collection)
        stale = [source_id for source_id in existing if source_id not in present] if delete else []
        if stale:
            _notify(progress, DELETING, 0, len(stale))
            await self._backend.delete_documents(kb, stale)
            _notify(progress, DELETING, len(stale), len(stale))
        report.deleted = sorted(stale)
        report.seconds = time.perf_counter() - started
        return report

    async def rebuild(
        self,
        kb: str,
        source: Path,
        *,
        base_url: str | None = None,
        progress: ProgressCallback | None = None,
        ignore: Sequence[str] = (),
    ) -> IngestReport:
        started = time.perf_counter()
        collection = await self._collect(source, base_url, progress, ignore)
        info: IndexInfo = await asyncio.to_thread(self._embedder.index_info)
        try:
            existing = await self._backend.document_hashes(kb)
        except KnowledgeBaseNotFound:
            existing = {}
        _refuse_empty_source(collection, existing, kb, source)
        lost = {sid: why for sid, why in collection.failed.items() if sid in existing}
        if lost:
            details = "; ".join(f"{sid}: {why}" for sid, why in sorted(lost.items()))
            raise IngestionError(
                f"rebuild of {kb!r} not started: {len(lost)} indexed document(s) would be lost "
                f"because they no longer parse ({details}). Fix or delete them, or run an "
                "incremental ingest, which keeps their indexed versions."
            )
        if not collection.documents:
            raise IngestionError(
                f"rebuild of {kb!r} not started: no document in {source} could be ingested"
                + _ignored_note(collection)
            )
        report = _classify(kb, collection, existing)
        present = _present(collection)
        report.deleted = sorted(sid for sid in existing if sid not in present)
        chunked = await self._chunk(kb, collection.documents, report, progress)
        build = await self._backend.begin_rebuild(kb, info)
        try:
            await self._embed_and_write(chunked, report, progress, self._build_writer(build))
            if report.failed.keys() & existing.keys():
                raise IngestionError(
                    f"rebuild of {kb!r} aborted, the old index keeps serving: "
                    + "; ".join(f"{sid}: {why}" for sid, why in report.failed.items())
                )
            _notify(progress, COMMITTING, 0, 1)
            await build.commit()
            _notify(progress, COMMITTING, 1, 1)
        except BaseException:
            await build.abort()
            raise
        report.seconds = time.perf_counter() - started
        return report

    async def _collect(
        self,
        source: Path,
        base_url: str | None,
        progress: ProgressCallback | None,
        ignore: Sequence[str],
    ) -> Collection:
        loop = asyncio.get_running_loop()

        def on_parsed(done: int, total: int, path: str) -> None:
            if progress is not None:
                loop.call_soon_threadsafe(progress, IngestProgress(PARSING, done, total, path))

        def collect() -> Collection:
            with open_source(source) as tree:
                rules = source_rules(tree, self._ignore, ignore)
                return collect_documents(
                    tree, self._parser, base_url=base_url, ignore=rules, on_parsed=on_parsed
                )

        return await asyncio.to_thread(collect)

    async def _chunk(
        self,
        kb: str,
        documents: Sequence[ParsedDocument],
        report: IngestReport,
        progress: ProgressCallback | None,
    ) -> list[tuple[ParsedDocument, list[Chunk]]]:
        chunked = await asyncio.to_thread(
            lambda: [(doc, self._chunker.chunk(doc, kb)) for doc in documents]
        )
        _notify(progress, CHUNKING, len(documents), len(documents))
        empty = [doc.source_id for doc, chunks in chunked if not chunks]
        for source_id in empty:
            _mark_failed(report, source_id, "no text content after chunking")
        return [(doc, chunks) for doc, chunks in chunked if chunks]

    async def _embed_and_write(
        self,
        chunked: list[tuple[ParsedDocument, list[Chunk]]],
        report: IngestReport,
        progress: ProgressCallback | None,
        write: WriteDocuments,
    ) -> None:
        writer = EmbedWriter(self._embedder, self._batch_size, self._token_sink, progress)
        outcome = await writer.run(chunked, write)
        for source_id, reason in outcome.failed.items():
            _mark_failed(report, source_id, f"indexing failed: {reason}")
        report.chunks += outcome.chunks
        report.embed_seconds += outcome.embed_seconds

    def _upsert(self, kb: str) -> WriteDocuments:
        return lambda documents: self._backend.upsert_documents(kb, documents)

    @staticmethod
    def _build_writer(build: IndexBuild) -> WriteDocuments:
        return build.write


def _present(collection: Collection) -> set[str]:
    """Source ids that must stay indexed: parsed now, failed now (old version kept) or
    vouched for as unchanged by the source."""
    return (
        {doc.source_id for doc in collection.documents} | set(collection.failed) | collection.kept
    )


def _classify(kb: str, collection: Collection, existing: dict[str, str]) -> IngestReport:
    report = IngestReport(kb=kb, failed=dict(collection.failed), ignored=list(collection.ignored))
    for doc in collection.documents:
        previous = existing.get(doc.source_id)
        if previous is None:
            report.new.append(doc.source_id)
        elif previous != doc.doc_hash:
            report.updated.append(doc.source_id)
        else:
            report.unchanged.append(doc.source_id)
    report.unchanged.extend(sorted(collection.kept))
    return report


def _mark_failed(report: IngestReport, source_id: str, reason: str) -> None:
    for bucket in (report.new, report.updated):
        if source_id in bucket:
            bucket.remove(source_id)
    report.failed[source_id] = reason


def _refuse_empty_source(
    collection: Collection, existing: dict[str, str], kb: str, source: Path
) -> None:
    """An empty or mistyped folder must not wipe a knowledge base."""
    if not collection.documents and not collection.failed and existing:
        raise IngestionError(
            f"no Markdown, HTML or text documents found in {source}{_ignored_note(collection)}; "
            f"refusing to delete all {len(existing)} documents of {kb!r}. Check the path and "
            "the ignore patterns, or delete the knowledge base."
        )


def _ignored_note(collection: Collection) -> str:
    if not collection.ignored:
        return ""
    return (
        f" ({len(collection.ignored)} matched an ignore pattern: see .supportbotignore, "
        "SUPPORTBOT_INGEST_IGNORE and --ignore)"
    )


def _notify(progress: ProgressCallback | None, phase: str, done: int, total: int) -> None:
    if progress is not None:
        progress(IngestProgress(phase, done, total))
