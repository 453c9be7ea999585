"""NoReranker: keep the fused order. The rerank stage skips it entirely ("not applied")."""

from __future__ import annotations

from collections.abc import Sequence

from bot.domain import Chunk


class NoReranker:
    name = "none"

    def warm_up(self) -> None:
        """Nothing to load."""

    def score(self, query: str, chunks: Sequence[Chunk]) -> list[float]:
        """Strictly decreasing scores, so sorting by them reproduces the input (fused) order."""
        count = len(chunks)
        return [float(count - position) for position in range(count)]
