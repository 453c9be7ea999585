"""EmbeddedSearch: the default search backend, SQLite FTS5 (BM25) plus exact NumPy kNN.

Everything lives in one SQLite file in the data directory, so a fresh install needs no
service. SQLite and NumPy calls block, so every public method runs its work in a worker
thread (`asyncio.to_thread`); WAL mode lets those threads read while one writes.

Crash safety: each document's replace is one transaction; a rebuild fills a staging
index that `commit` swaps in with one transaction; staging left by a crashed process is
dropped by the next rebuild of that KB, or when idle for `stale_build_after_s` at open.

Module map: `sqlite_db` (file, connections, transactions), `index` (statements),
`writes` (per-document replace), `rebuild` (staging and swap),
`vector_matrix` (kNN), `chunk_cache` (chunk rows per snapshot), `fts_query` (user
question → MATCH expression); shared with
Elasticsearch: `bot.retrieval.terms` (content words), `bot.retrieval.vectors` (vector checks).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from pathlib import Path

from bot.domain import Chunk, DocumentChunks, Hit, IndexInfo, KbStats, Vector, WriteReport
from bot.errors import EmbeddingModelMismatch, InvalidRequest
from bot.retrieval.embedded import index as ix
from bot.retrieval.embedded.chunk_cache import ChunkCache
from bot.retrieval.embedded.fts_query import build_match_expression
from bot.retrieval.embedded.rebuild import EmbeddedIndexBuild, begin_rebuild, drop_abandoned
from bot.retrieval.embedded.sqlite_db import DB_FILENAME, SqliteDatabase
from bot.retrieval.embedded.vector_matrix import MatrixCache, VectorMatrix
from bot.retrieval.embedded.writes import delete_documents, write_documents
from bot.retrieval.vectors import vector_problem


class EmbeddedSearch:
    name = "embedded"

    def __init__(
        self,
        data_dir: Path,
        *,
        title_weight: float = 3.0,
        headings_weight: float = 2.0,
        body_weight: float = 1.0,
        stale_build_after_s: float = 3600.0,
    ) -> None:
        """Cheap: the database opens on first use. Weights are BM25 column weights."""
        self._weights = (title_weight, headings_weight, body_weight)
        self._stale_build_after_s = stale_build_after_s
        self._db = SqliteDatabase(data_dir / DB_FILENAME, on_first_open=self._on_first_open)
        self._matrices = MatrixCache()
        self._chunks = ChunkCache()

    async def ensure_kb(self, kb: str, info: IndexInfo) -> None:
        await asyncio.to_thread(self._ensure_kb, kb, info)

    async def list_kbs(self) -> list[str]:
        return await asyncio.to_thread(self._list_kbs)

    async def stats(self, kb: str) -> KbStats:
        return await asyncio.to_thread(self._stats, kb)

    async def delete_kb(self, kb: str) -> None:
        await asyncio.to_thread(self._delete_kb, kb)

    async def document_hashes(self, kb: str) -> dict[str, str]:
        return await asyncio.to_thread(self._document_hashes, kb)

    async def upsert_documents(self, kb: str, documents: Sequence[DocumentChunks]) -> WriteReport:
        return await asyncio.to_thread(write_documents, self._db, kb, documents, None)

    async def delete_documents(self, kb: str, source_ids: Sequence[str]) -> int:
        return await asyncio.to_thread(delete_documents, self._db, kb, source_ids)

    async def bm25(self, kb: str, query: str, top_n: int) -> list[Hit]:
        return await asyncio.to_thread(self._bm25, kb, query, top_n)

    async def knn(self, kb: str, vector: Vector, top_n: int, info: IndexInfo) -> list[Hit]:
        return await asyncio.to_thread(self._knn, kb, vector, top_n, info)

    async def begin_rebuild(self, kb: str, info: IndexInfo) -> EmbeddedIndexBuild:
        staging_id = await asyncio.to_thread(begin_rebuild, self._db, kb, info)
        return EmbeddedIndexBuild(self._db, kb, staging_id)

    async def ping(self) -> bool:
        return await asyncio.to_thread(self._db.ping)

    async def close(self) -> None:
        self._db.close()
        self._matrices.clear()
        self._chunks.clear()

    # -- blocking work, run in worker threads ----------------------------------------
    def _ensure_kb(self, kb: str, info: IndexInfo) -> None:
        if not kb:
            raise InvalidRequest("a knowledge base needs a non-empty name")
        with self._db.write() as conn:
            live = ix.live_index(conn, kb)
            if live is None:
                ix.create_index(conn, kb, info, "live")
            else:
                ix.check_model(kb, live.info, info)

    def _list_kbs(self) -> list[str]:
        with self._db.read() as conn:
            rows = conn.execute("SELECT kb FROM indexes WHERE state = 'live' ORDER BY kb")
            return [kb for (kb,) in rows]

    def _stats(self, kb: str) -> KbStats:
        with self._db.read() as conn:
            live = ix.require_live(conn, kb)
            documents, chunks = ix.counts(conn, live.index_id)
        return KbStats(kb, documents, chunks, live.info, live.last_indexed)

    def _delete_kb(self, kb: str) -> None:
        with self._db.write() as conn:
            rows = conn.execute("SELECT index_id FROM indexes WHERE kb = ?", (kb,)).fetchall()
            for (index_id,) in rows:
                ix.drop_index(conn, index_id)
        self._matrices.forget(kb)
        self._chunks.forget(kb)

    def _document_hashes(self, kb: str) -> dict[str, str]:
        with self._db.read() as conn:
            live = ix.require_live(conn, kb)
            rows = conn.execute(
                "SELECT source_id, doc_hash FROM documents WHERE index_id = ?", (live.index_id,)
            )
            return dict(rows.fetchall())

    def _bm25(self, kb: str, query: str, top_n: int) -> list[Hit]:
        expression = build_match_expression(query)
        with self._db.read() as conn:
            live = ix.require_live(conn, kb)
            if expression is None or top_n <= 0:
                return []
            scored = ix.bm25_rows(conn, live, expression, self._weights, top_n)
            chunks = self._snapshot_chunks(conn, live, [row for row, _ in scored])
        return [Hit(chunks[row], score, rank) for rank, (row, score) in enumerate(scored, 1)]

    def _knn(self, kb: str, vector: Vector, top_n: int, info: IndexInfo) -> list[Hit]:
        with self._db.read() as conn:
            live = ix.require_live(conn, kb)
            ix.check_model(kb, live.info, info)
            problem = vector_problem(vector, live.info.dimension)
            if problem is not None:
                raise EmbeddingModelMismatch(f"query {problem}; embed it with the KB's model")

            def load() -> VectorMatrix:
                blobs = ix.vector_blobs(conn, live.index_id)
                return VectorMatrix.from_blobs(
                    live.index_id, live.generation, live.info.dimension, blobs
                )

            # Same snapshot for the generation, the matrix and the chunk rows.
            matrix = self._matrices.get(kb, live.index_id, live.generation, load)
            nearest = matrix.top(vector, top_n)
            chunks = self._snapshot_chunks(conn, live, [row for row, _ in nearest])
        return [Hit(chunks[row], score, rank) for rank, (row, score) in enumerate(nearest, 1)]

    def _snapshot_chunks(
        self, conn: sqlite3.Connection, live: ix.IndexRow, rows: list[int]
    ) -> dict[int, Chunk]:
        """Chunks of `live`'s rows, read in the caller's snapshot when not cached."""
        return self._chunks.get(
            live.kb,
            live.index_id,
            live.generation,
            rows,
            lambda missing: ix.chunks_by_row(conn, live.kb, missing),
        )

    def _on_first_open(self, conn: sqlite3.Connection) -> None:
        drop_abandoned(conn, self._stale_build_after_s)
