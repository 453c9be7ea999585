"""Fit an answerability model from labelled questions, and say honestly how it declines.

Thirty-odd unanswerable questions are few, so every figure reported is out-of-fold:
stratified K folds; on each, the model is fitted on the other folds and its threshold
is picked from *their* inner out-of-fold scores (the highest that declines at most
`max_false_decline` of their answerable questions), then the held-out fold is scored.
The shipped model is refitted on everything, its threshold taken the same way.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt

from bot.answerability.logistic import fit_logistic
from bot.answerability.model import AnswerabilityModel, CalibrationOrigin, OperatingPoint
from bot.errors import InvalidRequest
from bot.evaluation.bootstrap import bootstrap_mean
from bot.evaluation.folds import assign_folds

MIN_PER_CLASS = 5
"""Fewer answerable or unanswerable questions than this cannot calibrate anything."""
DEFAULT_L2 = 3.0
TARGET_FALSE_DECLINE = 0.04
"""A threshold picked on a few hundred questions overshoots on new ones: on the Zulip dev
set, aiming at 5 % gave 5.2-5.9 % out-of-fold; aiming at 4 % gave 3.9-5.1 %."""

MODEL_FEATURES = ("doc_margin", "rare_weak_token_share")
"""Out of fold on the Zulip dev set (10 fold seeds, l2 3, aim 3 %, with the default's floor)
these two declined 45 % of unanswerable questions at 4.0 % false declines; with the
unweighted weak_token_share instead 30 % at 3.0 % (34 % at 4.4 % aiming at 4 %); adding
weak_token_share, best_rerank or unmatched words to the two did not decline more."""
FALLBACK_FEATURES = ("best_rerank", "doc_margin", "unmatched_word_share")
"""When the reranker has no token vectors (cross-encoder, Cohere)."""


@dataclass(frozen=True, slots=True)
class LabelledFeatures:
    features: Mapping[str, float]
    answerable: bool


@dataclass(frozen=True, slots=True)
class Rate:
    value: float
    low: float
    high: float
    count: int
    of: int


@dataclass(frozen=True, slots=True)
class DeclineReport:
    """Out-of-fold decline rates with 95 % bootstrap intervals."""

    declined_unanswerable: Rate
    declined_answerable: Rate
    folds: int


def stratified_folds(labels: npt.NDArray[np.bool_], k: int, seed: int) -> npt.NDArray[np.int64]:
    folds: npt.NDArray[np.int64] = assign_folds(
        len(labels), k, seed=seed, strata=[bool(v) for v in labels]
    )
    return folds


def threshold_for(scores_answerable: npt.NDArray[np.float64], max_false_decline: float) -> float:
    """The highest threshold declining at most `max_false_decline` of these scores."""
    ordered = np.sort(scores_answerable)
    allowed = math.floor(max_false_decline * len(ordered) + 1e-9)
    return float(ordered[min(allowed, len(ordered) - 1)])


def _matrix(rows: Sequence[LabelledFeatures], names: Sequence[str]) -> npt.NDArray[np.float64]:
    return np.array([[row.features[n] for n in names] for row in rows], dtype=np.float64)


def usable_features(rows: Sequence[LabelledFeatures]) -> tuple[str, ...]:
    """MODEL_FEATURES when every question has them, else what it has of the fallback."""

    def present(names: Sequence[str]) -> tuple[str, ...]:
        return tuple(n for n in names if all(n in row.features for row in rows))

    primary = present(MODEL_FEATURES)
    return primary if primary == MODEL_FEATURES else present(FALLBACK_FEATURES)


def _oof_scores(
    x: npt.NDArray[np.float64], y: npt.NDArray[np.bool_], k: int, seed: int, l2: float
) -> npt.NDArray[np.float64]:
    scores = np.zeros(len(y))
    fold = stratified_folds(y, k, seed)
    for held in range(k):
        train = fold != held
        fit = fit_logistic(x[train], y[train], l2=l2)
        scores[~train] = fit.decision(x[~train])
    return scores


def cross_validated_declines(
    rows: Sequence[LabelledFeatures],
    names: Sequence[str],
    *,
    folds: int = 5,
    seed: int = 0,
    l2: float = DEFAULT_L2,
    max_false_decline: float = TARGET_FALSE_DECLINE,
) -> npt.NDArray[np.bool_]:
    """Whether each question is declined, by a model that never saw it (nor its threshold)."""
    x, y = _matrix(rows, names), np.array([r.answerable for r in rows], dtype=bool)
    _check_counts(y, folds)
    declined = np.zeros(len(y), dtype=bool)
    fold = stratified_folds(y, folds, seed)
    for held in range(folds):
        train = fold != held
        inner = _oof_scores(x[train], y[train], folds, seed + 1, l2)
        threshold = threshold_for(inner[y[train]], max_false_decline)
        fit = fit_logistic(x[train], y[train], l2=l2)
        declined[~train] = fit.decision(x[~train]) < threshold
    return declined


def decline_report(
    declined: npt.NDArray[np.bool_],
    answerable: npt.NDArray[np.bool_],
    *,
    folds: int,
    resamples: int = 2000,
    seed: int = 0,
) -> DeclineReport:
    """Rates with percentile-bootstrap intervals, each class resampled on its own."""

    def rate(flags: npt.NDArray[np.bool_]) -> Rate:
        if len(flags) == 0:
            return Rate(0.0, 0.0, 0.0, 0, 0)
        interval = bootstrap_mean(flags.astype(np.float64), resamples=resamples, seed=seed)
        return Rate(interval.mean, interval.low, interval.high, int(flags.sum()), len(flags))

    return DeclineReport(rate(declined[~answerable]), rate(declined[answerable]), folds)


def calibrate(
    rows: Sequence[LabelledFeatures],
    *,
    scored_by: str,
    origin: CalibrationOrigin = "kb",
    folds: int = 5,
    l2: float = DEFAULT_L2,
    max_false_decline: float = TARGET_FALSE_DECLINE,
    seed: int = 0,
) -> tuple[AnswerabilityModel, DeclineReport]:
    """The model fitted on all questions, and its out-of-fold decline report."""
    y = np.array([r.answerable for r in rows], dtype=bool)
    _check_counts(y, folds)
    names = usable_features(rows)
    if not names:
        raise InvalidRequest("no answerability feature could be computed for these questions")
    declined = cross_validated_declines(
        rows, names, folds=folds, seed=seed, l2=l2, max_false_decline=max_false_decline
    )
    report = decline_report(declined, y, folds=folds, seed=seed)
    x = _matrix(rows, names)
    log_odds = _oof_scores(x, y, folds, seed + 1, l2)
    threshold_log_odds = threshold_for(log_odds[y], max_false_decline)
    model = AnswerabilityModel(
        features=names,
        fit=fit_logistic(x, y, l2=l2),
        threshold=1.0 / (1.0 + math.exp(-threshold_log_odds)),
        scored_by=scored_by,
        origin=origin,
        fitted_at=datetime.now(UTC).isoformat(timespec="seconds"),
        questions=len(rows),
        operating_point=OperatingPoint(
            declined_unanswerable=report.declined_unanswerable.value,
            declined_answerable=report.declined_answerable.value,
            unanswerable=int((~y).sum()),
            answerable=int(y.sum()),
            max_false_decline=max_false_decline,
        ),
        notes={"l2": l2, "folds": folds},
    )
    return model, report


def _check_counts(y: npt.NDArray[np.bool_], folds: int) -> None:
    answerable, unanswerable = int(y.sum()), int((~y).sum())
    needed = max(MIN_PER_CLASS, folds)
    if answerable < needed or unanswerable < needed:
        raise InvalidRequest(
            f"calibration needs at least {needed} answerable and {needed} unanswerable "
            f'questions (rows with "relevant": []); got {answerable} and {unanswerable}'
        )
