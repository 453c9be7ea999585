"""The reranker role: score (query, chunk) pairs; higher is more relevant."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from bot.domain import Chunk, Vector


class Reranker(Protocol):
    name: str
    """Reranker kind plus model id/version; part of every cache key."""

    def warm_up(self) -> None: ...

    def score(self, query: str, chunks: Sequence[Chunk]) -> list[float]:
        """Blocking; the rerank stage runs it off the event loop. Raise RerankError."""
        ...


class TokenVectorSink(Protocol):
    """Receives chunks' token vectors computed during ingestion (late-interaction reranking)."""

    def store(self, chunks: Sequence[Chunk], token_vectors: Sequence[Vector]) -> None: ...
