"""Decide whether a search's results answer the question: the KB's own calibration when
it has one, else the default fitted for the reranker in use, else never decline.

An explicit SUPPORTBOT_ANSWERABLE_THRESHOLD keeps the older rule (best rerank score below
it declines) for admins who set one.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from bot.answerability.features import FEATURES, TOKEN_FEATURES, answerability_features
from bot.answerability.model import AnswerabilityModel
from bot.answerability.store import FileCalibrationStore
from bot.domain import Candidate, Chunk, TokenMatch
from bot.errors import SupportbotError

log = logging.getLogger(__name__)

Basis = Literal["kb", "default", "threshold", "none", "no results"]


class TokenEvidence(Protocol):
    """Per-token evidence from a late-interaction reranker (see LateInteractionReranker)."""

    def content_token_matches(self, query: str, chunk: Chunk) -> list[TokenMatch]: ...


@dataclass(frozen=True, slots=True)
class Answerability:
    answerable: bool
    score: float | None
    """Probability that the results answer the question (a model's), the best rerank
    score under an explicit threshold, or None when nothing could judge."""
    basis: Basis
    features: dict[str, float] = field(default_factory=dict)


class AnswerabilityEstimator:
    def __init__(
        self,
        *,
        scored_by: str,
        default: AnswerabilityModel | None,
        store: FileCalibrationStore | None,
        token_evidence: TokenEvidence | None = None,
        fixed_threshold: float | None = None,
    ) -> None:
        self.scored_by = scored_by
        self._default = default if default is not None and default.scored_by == scored_by else None
        self._store = store
        self._tokens = token_evidence
        self._fixed = fixed_threshold

    @property
    def store(self) -> FileCalibrationStore | None:
        return self._store

    def model_for(self, kb: str) -> AnswerabilityModel | None:
        """The KB's calibration if it was fitted on this reranker's scores, else the default."""
        if self._store is not None:
            try:
                own = self._store.load(kb)
            except SupportbotError as exc:
                log.warning("answerability calibration of %r ignored: %s", kb, exc.message)
                own = None
            if own is not None and own.scored_by == self.scored_by:
                return own
        return self._default

    async def features(
        self, query: str, ranked: Sequence[Candidate], wanted: Collection[str] = FEATURES
    ) -> dict[str, float]:
        """The `wanted` features this reranker allows (all of them: what `calibrate` fits on)."""
        matches = None
        needs_tokens = not TOKEN_FEATURES.isdisjoint(wanted)
        if (
            needs_tokens
            and self._tokens is not None
            and ranked
            and ranked[0].rerank_score is not None
        ):
            try:
                # On the event loop, not in a worker thread: ~0.6 ms of mostly Python (the
                # GIL held either way) over the top chunk's vectors, which the reranker just
                # put in the token cache; the hand-off to a thread and back cost 0.15-0.45
                # ms more a search (answerability p50 1.5 -> 1.2 ms, benchmarks/README.md).
                matches = self._tokens.content_token_matches(query, ranked[0].chunk)
            except (SupportbotError, OSError, RuntimeError, ValueError) as exc:
                # Evidence is optional: without it the model does not apply, search goes on.
                log.warning("token evidence unavailable: %s", exc)
        return answerability_features(query, ranked, matches, wanted)

    async def estimate(
        self, kb: str, query: str, ranked: Sequence[Candidate], reranked: bool
    ) -> Answerability:
        if not ranked:
            return Answerability(False, 0.0, "no results")
        best = ranked[0].rerank_score if reranked else None
        if self._fixed is not None:
            if best is None:
                return Answerability(True, None, "none")
            return Answerability(best >= self._fixed, best, "threshold")
        model = self.model_for(kb) if reranked else None
        if model is None:
            return Answerability(True, None, "none")
        features = await self.features(query, ranked, model.features)
        if not model.applies_to(features):
            return Answerability(True, None, "none", features)
        score = model.score(features)
        return Answerability(not model.declines(score, best), score, model.origin, features)

    def describe(self, kb: str | None = None) -> dict[str, Any]:
        """The calibration in force (for /readyz), for one KB or the default."""
        if self._fixed is not None:
            return {"origin": "threshold", "best_rerank_threshold": self._fixed}
        model = self.model_for(kb) if kb is not None else self._default
        if model is None:
            return {"origin": "none", "scored_by": self.scored_by, "detail": "never declines"}
        return model.describe()
