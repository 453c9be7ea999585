"""The embedder role."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from bot.domain import IndexInfo, Vector


class TokenCounter(Protocol):
    """Counts tokens with the embedding model's own tokenizer (used by the chunker)."""

    def count_tokens(self, text: str) -> int: ...


class Embedder(TokenCounter, Protocol):
    model_id: str

    @property
    def dimension(self) -> int: ...

    def index_info(self) -> IndexInfo: ...

    def warm_up(self) -> None:
        """Load weights. Constructors stay cheap; this is where the seconds go."""
        ...

    def embed_documents(self, texts: Sequence[str]) -> Vector:
        """(n, dim) float32, L2-normalised, batched."""
        ...

    def embed_query(self, text: str) -> Vector:
        """(dim,) float32, L2-normalised."""
        ...

    def embed_documents_with_tokens(self, texts: Sequence[str]) -> tuple[Vector, list[Vector]]:
        """Sentence vectors plus each text's token vectors, from one forward pass.

        Token vectors feed late-interaction reranking without a second embedding pass.
        """
        ...
