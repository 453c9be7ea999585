"""Document-level ranking metrics with binary relevance.

A chunk counts for its source document; later chunks of an already-seen document are
dropped from the ranking before scoring, so a document counts once.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence


def matches(label: str, source_id: str) -> bool:
    """`help/x.md` (a path in the labelled set) matches the source_id `x.md`."""
    label = label.strip("/")
    return label == source_id or label.endswith("/" + source_id)


def document_ranking(source_ids: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    ranking = []
    for source_id in source_ids:
        if source_id not in seen:
            seen.add(source_id)
            ranking.append(source_id)
    return ranking


def relevant_flags(ranking: Sequence[str], relevant: Sequence[str]) -> list[bool]:
    return [any(matches(label, doc) for label in relevant) for doc in ranking]


def hit_at(flags: Sequence[bool], k: int) -> float:
    return 1.0 if any(flags[:k]) else 0.0


def precision_at(flags: Sequence[bool], k: int) -> float:
    return sum(flags[:k]) / k


def recall_at(flags: Sequence[bool], k: int, n_relevant: int) -> float:
    return min(sum(flags[:k]), n_relevant) / n_relevant if n_relevant else 0.0


def mrr_at(flags: Sequence[bool], k: int) -> float:
    for rank, flag in enumerate(flags[:k], start=1):
        if flag:
            return 1.0 / rank
    return 0.0


def ndcg_at(flags: Sequence[bool], k: int, n_relevant: int) -> float:
    dcg = sum(1.0 / math.log2(rank + 1) for rank, f in enumerate(flags[:k], start=1) if f)
    ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(n_relevant, k) + 1))
    return dcg / ideal if ideal else 0.0


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    index = max(0, math.ceil(q / 100 * len(ordered)) - 1)
    return ordered[index]
