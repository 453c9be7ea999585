"""Rank fusion: merge ranked lists (BM25, dense, a reranker's) into one order.

BM25 scores, cosines and reranker scores live on unrelated scales, so each list is first
mapped to a per-list contribution, then the weighted contributions are summed:

- `rrf`: reciprocal rank, weight / (k + rank); ranks only, no calibration needed.
- `minmax`: (score − min) / (max − min) within the list, as Elasticsearch's linear
  retriever and OpenSearch's normalization processor do; keeps how far apart hits are.
- `dbsf`: distribution-based, (score − (μ − 3σ)) / 6σ clipped to [0, 1], as Qdrant does;
  less swayed by one outlying top score than min-max.

A document missing from a list gets nothing from it. The same functions fuse the first
stage (`HybridRetriever`), blend the reranker with the fused order (`RerankStage`) and
replay both in the evaluation, so what is measured is what is served.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

from bot.domain import Candidate, Chunk, Hit

FusionMethod = Literal["rrf", "minmax", "dbsf"]
FUSION_METHODS: tuple[FusionMethod, ...] = ("rrf", "minmax", "dbsf")

Ranked = Sequence[tuple[str, float]]
"""(id, score) pairs, best first."""


def contributions(scores: Sequence[float], method: FusionMethod, k: float = 60) -> list[float]:
    """Each entry's share in [0, 1] (RRF: 1/(k + rank)), for a list ordered best first."""
    if method == "rrf":
        return [1.0 / (k + rank) for rank in range(1, len(scores) + 1)]
    if not scores:
        return []
    if method == "minmax":
        low, high = min(scores), max(scores)
        if high - low <= 1e-12:
            return [1.0] * len(scores)
        return [(score - low) / (high - low) for score in scores]
    if method == "dbsf":
        mean = sum(scores) / len(scores)
        spread = math.sqrt(sum((score - mean) ** 2 for score in scores) / len(scores))
        if spread <= 1e-12:
            return [1.0] * len(scores)
        low = mean - 3 * spread
        return [min(1.0, max(0.0, (score - low) / (6 * spread))) for score in scores]
    raise ValueError(f"unknown fusion method {method!r}; use one of {FUSION_METHODS}")


def fuse(
    lists: Sequence[Ranked],
    weights: Sequence[float],
    *,
    method: FusionMethod = "rrf",
    k: float = 60,
) -> list[tuple[str, float]]:
    """(id, fused score) best first; ties break by the best single rank, then by id.

    An id listed twice in one list keeps its first (best) place there.
    """
    if len(lists) != len(weights):
        raise ValueError(f"{len(lists)} lists but {len(weights)} weights")
    if k < 0:
        raise ValueError(f"RRF k must be >= 0, got {k}")
    if weights and min(weights) < 0:
        raise ValueError(f"fusion weights must be >= 0, got {tuple(weights)}")
    totals: dict[str, float] = {}
    best_rank: dict[str, int] = {}
    for ranked, weight in zip(lists, weights, strict=True):
        unique = _first_places(ranked)
        shares = contributions([score for _, score in unique], method, k)
        for rank, ((item, _), share) in enumerate(zip(unique, shares, strict=True), start=1):
            totals[item] = totals.get(item, 0.0) + weight * share
            best_rank[item] = min(rank, best_rank.get(item, rank))
    return sorted(totals.items(), key=lambda pair: (-pair[1], best_rank[pair[0]], pair[0]))


def fuse_hits(
    bm25: Sequence[Hit],
    dense: Sequence[Hit],
    *,
    method: FusionMethod = "rrf",
    k: float = 60,
    weights: tuple[float, float] = (1.0, 1.0),
    limit: int = 50,
) -> list[Candidate]:
    """Fused candidates, best first, with each retriever's rank kept for explanation."""
    chunks: dict[str, Chunk] = {}
    ranks: list[dict[str, int]] = []
    for hits in (bm25, dense):
        ordered = sorted(hits, key=lambda hit: hit.rank)
        seen: dict[str, int] = {}
        for hit in ordered:
            chunks.setdefault(hit.chunk.chunk_id, hit.chunk)
            seen.setdefault(hit.chunk.chunk_id, hit.rank)
        ranks.append(seen)
    lists = [
        [(hit.chunk.chunk_id, hit.score) for hit in sorted(hits, key=lambda hit: hit.rank)]
        for hits in (bm25, dense)
    ]
    fused = fuse(lists, weights, method=method, k=k)
    return [
        Candidate(
            chunks[chunk_id],
            score,
            bm25_rank=ranks[0].get(chunk_id),
            dense_rank=ranks[1].get(chunk_id),
        )
        for chunk_id, score in fused[: max(limit, 0)]
    ]


def reciprocal_rank_fusion(
    bm25: Sequence[Hit],
    dense: Sequence[Hit],
    *,
    k: int = 60,
    weights: tuple[float, float] = (1.0, 1.0),
    limit: int = 50,
) -> list[Candidate]:
    """RRF of the two retrievers: Σ weight / (k + rank)."""
    return fuse_hits(bm25, dense, method="rrf", k=k, weights=weights, limit=limit)


def _first_places(ranked: Ranked) -> list[tuple[str, float]]:
    seen: set[str] = set()
    unique = []
    for item, score in ranked:
        if item not in seen:
            seen.add(item)
            unique.append((item, score))
    return unique
