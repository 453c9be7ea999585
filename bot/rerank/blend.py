"""Blend the reranker's scores with the first-stage (fused) order instead of replacing it.

A reranker over one small model is noisy on its own; the first stage carries evidence it
lacks (exact terms, the whole-chunk embedding). `weight` = 1 keeps the reranker's order
alone; below 1 the two lists are fused with `bot.retrieval.fusion.fuse`, weights
(weight, 1 − weight), by the same method as the first stage, so evaluation and serving
share one formula.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from bot.retrieval.fusion import FusionMethod, fuse


def blended_order(
    first_stage: Sequence[tuple[str, float]],
    rerank_scores: Mapping[str, float],
    *,
    weight: float = 1.0,
    method: FusionMethod = "rrf",
    k: float = 60,
) -> list[str]:
    """Ids best first. `first_stage` is (id, fused score); every id needs a rerank score.

    Ties in the reranker's order break by the fused score, then by id.
    """
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"rerank weight must be in [0, 1], got {weight}")
    fused = sorted(first_stage, key=lambda pair: (-pair[1], pair[0]))
    by_rerank = sorted(fused, key=lambda pair: (-rerank_scores[pair[0]], -pair[1], pair[0]))
    if weight >= 1.0:
        return [item for item, _ in by_rerank]
    reranked = [(item, rerank_scores[item]) for item, _ in by_rerank]
    combined = fuse([reranked, fused], [weight, 1.0 - weight], method=method, k=k)
    return [item for item, _ in combined]


def with_document_evidence(
    scores: Mapping[str, float], document_of: Mapping[str, str], weight: float
) -> dict[str, float]:
    """Each chunk's score plus `weight` × the best score among its article's other chunks.

    An article with two good passages is likelier to answer than one with a single lucky
    match, so its best chunk moves up by a share of its runner-up (weight 0 = unchanged).
    """
    if weight == 0.0:
        return dict(scores)
    best: dict[str, list[float]] = {}
    for item, score in scores.items():
        top = best.setdefault(document_of[item], [-math.inf, -math.inf])
        if score > top[0]:
            top[0], top[1] = score, top[0]
        elif score > top[1]:
            top[1] = score
    adjusted = {}
    for item, score in scores.items():
        first, second = best[document_of[item]]
        other = second if score == first else first
        adjusted[item] = score + (weight * other if math.isfinite(other) else 0.0)
    return adjusted
