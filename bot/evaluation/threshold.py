"""Suggest an explicit SUPPORTBOT_ANSWERABLE_THRESHOLD (best rerank score) from labelled
questions, for admins who prefer that rule to the answerability model (bot/answerability).

Each reranker scores on its own scale, so a threshold has to be picked per reranker and
model: the highest that declines at most `max_false_decline` of the answerable questions;
questions with no relevant document then show how many it would catch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ThresholdSuggestion:
    threshold: float
    false_declines: int
    answerable: int
    declines: int
    unanswerable: int


def suggest_threshold(
    answerable_best: Sequence[float],
    unanswerable_best: Sequence[float],
    max_false_decline: float = 0.05,
) -> ThresholdSuggestion | None:
    """Best rerank score per question in, the threshold out (None without answerable ones).

    A question is declined when its best score is below the threshold, so the threshold
    is the (k+1)-th lowest answerable score, k being the false declines allowed.
    """
    if not answerable_best:
        return None
    ordered = sorted(answerable_best)
    allowed = math.floor(max_false_decline * len(ordered) + 1e-9)
    threshold = ordered[min(allowed, len(ordered) - 1)]
    return ThresholdSuggestion(
        threshold=threshold,
        false_declines=sum(score < threshold for score in ordered),
        answerable=len(ordered),
        declines=sum(score < threshold for score in unanswerable_best),
        unanswerable=len(unanswerable_best),
    )
