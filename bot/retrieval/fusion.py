"""Reciprocal Rank Fusion: merge BM25 and dense rankings without comparing their scores.

BM25 scores and cosines live on unrelated scales; RRF uses only ranks,
score(d) = Σ weight_r / (k + rank_r(d)), so it needs no calibration per corpus or model.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.domain import Candidate, Chunk, Hit


def reciprocal_rank_fusion(
    bm25: Sequence[Hit],
    dense: Sequence[Hit],
    *,
    k: int = 60,
    weights: tuple[float, float] = (1.0, 1.0),
    limit: int = 50,
) -> list[Candidate]:
    """Fused candidates, best first, with each retriever's rank kept for explanation.

    Ties break by the best single rank, then by chunk id, so equal inputs always give
    the same order. A chunk listed twice by one retriever keeps its best rank there.
    """
    if k < 0:
        raise ValueError(f"RRF k must be >= 0, got {k}")
    if min(weights) < 0:
        raise ValueError(f"RRF weights must be >= 0, got {weights}")
    chunks: dict[str, Chunk] = {}
    bm25_ranks = _best_ranks(bm25, chunks)
    dense_ranks = _best_ranks(dense, chunks)
    weight_bm25, weight_dense = weights
    candidates = []
    for chunk_id, chunk in chunks.items():
        bm25_rank = bm25_ranks.get(chunk_id)
        dense_rank = dense_ranks.get(chunk_id)
        score = 0.0
        if bm25_rank is not None:
            score += weight_bm25 / (k + bm25_rank)
        if dense_rank is not None:
            score += weight_dense / (k + dense_rank)
        candidates.append(Candidate(chunk, score, bm25_rank=bm25_rank, dense_rank=dense_rank))
    candidates.sort(key=_order)
    return candidates[: max(limit, 0)]


def _best_ranks(hits: Sequence[Hit], chunks: dict[str, Chunk]) -> dict[str, int]:
    ranks: dict[str, int] = {}
    for hit in hits:
        chunk_id = hit.chunk.chunk_id
        chunks.setdefault(chunk_id, hit.chunk)
        if hit.rank < ranks.get(chunk_id, hit.rank + 1):
            ranks[chunk_id] = hit.rank
    return ranks


def _order(candidate: Candidate) -> tuple[float, int, str]:
    ranks = [r for r in (candidate.bm25_rank, candidate.dense_rank) if r is not None]
    return (-candidate.fused_score, min(ranks), candidate.chunk.chunk_id)
