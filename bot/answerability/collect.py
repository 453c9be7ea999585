"""Answerability features of labelled questions, as the live pipeline computes them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from bot.answerability.calibration import LabelledFeatures

if TYPE_CHECKING:
    from bot.evaluation.runner import LabelledQuery
    from bot.pipeline import SupportPipeline

ALL_CANDIDATES = 10_000
"""top_k that returns every reranked candidate: features look at all of them."""


async def labelled_features(
    pipeline: SupportPipeline,
    kb: str,
    queries: Sequence[LabelledQuery],
    on_query: Callable[[], None] | None = None,
) -> list[LabelledFeatures]:
    """Search each question (hybrid + rerank) and keep its features and its label."""
    rows = []
    for query in queries:
        outcome = await pipeline.search(kb, query.query, top_k=ALL_CANDIDATES)
        if outcome.reranked:
            features = await pipeline.answerability.features(outcome.query, outcome.results)
            rows.append(LabelledFeatures(features, bool(query.relevant)))
        if on_query:
            on_query()
    return rows
