"""The search backend role: one protocol, one file per engine.

Backends store chunks with their vectors per knowledge base (KB) and answer two
queries, BM25 top-N and kNN top-N. Fusion, reranking and everything after live in
shared code, so both engines behave the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from bot.domain import DocumentChunks, Hit, IndexInfo, KbStats, Vector, WriteReport


class IndexBuild(Protocol):
    """A full rebuild of one KB, invisible to readers until `commit`.

    A failed or aborted build leaves the previous index serving.
    """

    async def write(self, documents: Sequence[DocumentChunks]) -> WriteReport: ...

    async def commit(self) -> KbStats:
        """Verify the new index (document count) and make it the one served, atomically."""
        ...

    async def abort(self) -> None: ...


class SearchBackend(Protocol):
    name: str

    async def ensure_kb(self, kb: str, info: IndexInfo) -> None:
        """Create the KB if missing; raise EmbeddingModelMismatch if built with another model."""
        ...

    async def list_kbs(self) -> list[str]: ...

    async def stats(self, kb: str) -> KbStats:
        """Raise KnowledgeBaseNotFound for an unknown KB."""
        ...

    async def delete_kb(self, kb: str) -> None: ...

    async def document_hashes(self, kb: str) -> dict[str, str]:
        """source_id → doc_hash of every indexed document (drives incremental ingest)."""
        ...

    async def upsert_documents(self, kb: str, documents: Sequence[DocumentChunks]) -> WriteReport:
        """Replace all chunks of each document; documents fail independently."""
        ...

    async def delete_documents(self, kb: str, source_ids: Sequence[str]) -> int: ...

    async def bm25(self, kb: str, query: str, top_n: int) -> list[Hit]: ...

    async def knn(self, kb: str, vector: Vector, top_n: int, info: IndexInfo) -> list[Hit]:
        """Exact or approximate cosine kNN; `info` is checked against the index's model."""
        ...

    async def begin_rebuild(self, kb: str, info: IndexInfo) -> IndexBuild: ...

    async def ping(self) -> bool:
        """True when the backend answers; never raises."""
        ...

    async def close(self) -> None: ...
