"""A fitted answerability model: logistic regression over `features.FEATURES`, a decline
threshold on its score, and where it came from (shown in /readyz)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

from bot.answerability.logistic import LogisticFit
from bot.errors import InvalidRequest

CalibrationOrigin = Literal["default", "kb"]


@dataclass(frozen=True, slots=True)
class OperatingPoint:
    """Out-of-fold decline rates the threshold was chosen for (fractions of questions)."""

    declined_unanswerable: float
    declined_answerable: float
    unanswerable: int
    answerable: int
    max_false_decline: float = 0.05


@dataclass(frozen=True, slots=True)
class AnswerabilityModel:
    features: tuple[str, ...]
    fit: LogisticFit
    threshold: float
    """Decline when the score (probability the question is answerable) is below this."""
    scored_by: str
    """The reranker (and model) whose scores the features came from: another one scores
    on another scale, so this model does not apply to it."""
    origin: CalibrationOrigin = "default"
    fitted_at: str | None = None
    questions: int = 0
    operating_point: OperatingPoint | None = None
    notes: dict[str, Any] = field(default_factory=dict)
    best_rerank_floor: float | None = None
    """Also decline when the best rerank score is below this. The model's features are
    relative (margins, shares), so a question far from every article can still look like
    an answer; this absolute floor catches those."""

    def declines(self, score: float, best_rerank: float | None) -> bool:
        if score < self.threshold:
            return True
        floor = self.best_rerank_floor
        return floor is not None and best_rerank is not None and best_rerank < floor

    def applies_to(self, available: Mapping[str, float]) -> bool:
        return all(name in available for name in self.features)

    def score(self, available: Mapping[str, float]) -> float:
        """Probability that the question is answerable, from its features."""
        row = np.array([[available[name] for name in self.features]], dtype=np.float64)
        log_odds = float(self.fit.decision(row)[0])
        return 1.0 / (1.0 + math.exp(-max(min(log_odds, 50.0), -50.0)))

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AnswerabilityModel:
        try:
            raw = data["fit"]
            fit = LogisticFit(
                weights=tuple(float(v) for v in raw["weights"]),
                bias=float(raw["bias"]),
                means=tuple(float(v) for v in raw["means"]),
                scales=tuple(float(v) for v in raw["scales"]),
            )
            point = data.get("operating_point")
            return cls(
                features=tuple(data["features"]),
                fit=fit,
                threshold=float(data["threshold"]),
                scored_by=str(data["scored_by"]),
                origin=data.get("origin", "kb"),
                fitted_at=data.get("fitted_at"),
                questions=int(data.get("questions", 0)),
                operating_point=OperatingPoint(**point) if point else None,
                notes=dict(data.get("notes") or {}),
                best_rerank_floor=(
                    None
                    if data.get("best_rerank_floor") is None
                    else float(data["best_rerank_floor"])
                ),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidRequest(f"unreadable answerability calibration: {exc}") from exc

    def describe(self) -> dict[str, Any]:
        """What /readyz shows: which calibration is in force and how it performs."""
        return {
            "origin": self.origin,
            "scored_by": self.scored_by,
            "features": list(self.features),
            "threshold": round(self.threshold, 4),
            "best_rerank_floor": self.best_rerank_floor,
            "fitted_at": self.fitted_at,
            "questions": self.questions,
            "operating_point": asdict(self.operating_point) if self.operating_point else None,
        }
