"""Embeds chunks in fixed-size batches across documents and writes each document as
soon as all of its chunks have vectors, so memory stays flat and a crash mid-run keeps
what was already written (the next incremental run skips it).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from bot.domain import (
    Chunk,
    DocumentChunks,
    EmbeddedChunk,
    ParsedDocument,
    Vector,
    WriteReport,
)
from bot.embedding.protocol import Embedder
from bot.errors import SupportbotError
from bot.rerank.protocol import TokenVectorSink
from ingestion.embedding_text import text_for_embedding
from ingestion.report import EMBEDDING, INDEXING, IngestProgress, ProgressCallback

log = logging.getLogger(__name__)

WriteDocuments = Callable[[Sequence[DocumentChunks]], Awaitable[WriteReport]]


@dataclass
class WriteOutcome:
    written: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    chunks: int = 0
    embed_seconds: float = 0.0


class EmbedWriter:
    def __init__(
        self,
        embedder: Embedder,
        batch_size: int,
        token_sink: TokenVectorSink | None,
        progress: ProgressCallback | None,
    ) -> None:
        self._embedder = embedder
        self._batch_size = max(1, batch_size)
        self._token_sink = token_sink
        self._progress = progress

    async def run(
        self, documents: Sequence[tuple[ParsedDocument, list[Chunk]]], write: WriteDocuments
    ) -> WriteOutcome:
        outcome = WriteOutcome()
        flat = [(index, chunk) for index, (_, chunks) in enumerate(documents) for chunk in chunks]
        embedded: list[list[EmbeddedChunk]] = [[] for _ in documents]
        next_doc = 0
        for start in range(0, len(flat), self._batch_size):
            batch = flat[start : start + self._batch_size]
            vectors = await self._embed([chunk for _, chunk in batch], outcome)
            for (index, chunk), vector in zip(batch, vectors, strict=True):
                embedded[index].append(EmbeddedChunk(chunk=chunk, vector=vector))
            self._report(EMBEDDING, start + len(batch), len(flat), batch[-1][1].source_id)
            end = start + len(batch)
            last_doc = batch[-1][0]
            finished = end == len(flat) or flat[end][0] != last_doc
            ready_until = last_doc + 1 if finished else last_doc
            if ready_until > next_doc:
                await self._write(documents, embedded, next_doc, ready_until, write, outcome)
                next_doc = ready_until
        return outcome

    async def _embed(self, chunks: list[Chunk], outcome: WriteOutcome) -> list[Vector]:
        texts = [text_for_embedding(chunk) for chunk in chunks]
        started = time.perf_counter()
        if self._token_sink is None:
            vectors = await asyncio.to_thread(self._embedder.embed_documents, texts)
        else:
            vectors, tokens = await asyncio.to_thread(
                self._embedder.embed_documents_with_tokens, texts
            )
            try:
                await asyncio.to_thread(self._token_sink.store, chunks, tokens)
            except SupportbotError as exc:
                # Token vectors are an optimisation: the late-interaction reranker recomputes
                # missing ones, so a store failure must not fail the documents themselves.
                log.warning("could not store token vectors for %s chunks: %s", len(chunks), exc)
        outcome.embed_seconds += time.perf_counter() - started
        return list(vectors)

    async def _write(
        self,
        documents: Sequence[tuple[ParsedDocument, list[Chunk]]],
        embedded: list[list[EmbeddedChunk]],
        start: int,
        end: int,
        write: WriteDocuments,
        outcome: WriteOutcome,
    ) -> None:
        group = [
            DocumentChunks(source_id=doc.source_id, doc_hash=doc.doc_hash, chunks=embedded[index])
            for index, (doc, _) in enumerate(documents[start:end], start=start)
        ]
        report = await write(group)
        outcome.written.extend(report.written)
        outcome.failed.update(report.failed)
        written = set(report.written)
        outcome.chunks += sum(len(item.chunks) for item in group if item.source_id in written)
        for index in range(start, end):
            embedded[index] = []  # release vectors once written
        self._report(INDEXING, end, len(documents), documents[end - 1][0].source_id)

    def _report(self, phase: str, done: int, total: int, current: str | None) -> None:
        if self._progress is not None:
            self._progress(IngestProgress(phase, done, total, current))
