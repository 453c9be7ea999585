"""K-fold cross-validation over a precomputed score matrix.

Every configuration is scored on every question once (rows: configurations, columns:
questions); choosing a configuration on K−1 folds and scoring it on the held-out fold is
then an argmax over column means. The out-of-fold score of a question is the score of the
configuration chosen without it, so tuning never sees the question it is judged on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


def assign_folds(
    n: int, k: int, *, seed: int = 0, strata: Sequence[object] | None = None
) -> np.ndarray:
    """Fold number (0..k−1) per item: a seeded shuffle, dealt round-robin per stratum.

    With `strata` (e.g. answerable or not), each fold gets its share of every kind.
    """
    if k < 2:
        raise ValueError(f"cross-validation needs at least 2 folds, got {k}")
    if n < k:
        raise ValueError(f"{n} items cannot fill {k} folds")
    labels = list(strata) if strata is not None else [0] * n
    if len(labels) != n:
        raise ValueError(f"{len(labels)} strata labels for {n} items")
    rng = np.random.default_rng(seed)
    folds = np.empty(n, dtype=np.int64)
    offset = 0
    for stratum in sorted(set(labels), key=repr):
        members = np.array([i for i, label in enumerate(labels) if label == stratum])
        shuffled = members[rng.permutation(len(members))]
        folds[shuffled] = (np.arange(len(shuffled)) + offset) % k
        offset += len(shuffled)
    return folds


@dataclass(frozen=True)
class CrossValidation:
    chosen: list[int]
    """Per fold, the configuration (row) picked on the other folds."""
    config_of: np.ndarray
    """Per question, the row used to score it out of fold."""

    def out_of_fold(self, scores: np.ndarray) -> np.ndarray:
        """Per-question scores of any metric matrix shaped like the one tuned on."""
        return scores[self.config_of, np.arange(scores.shape[1])]


def cross_validate(objective: np.ndarray, folds: np.ndarray) -> CrossValidation:
    """Pick, per fold, the row with the best mean objective on the other folds.

    Ties go to the earlier row, so list the simplest (or shipped) configuration first.
    """
    if objective.ndim != 2 or objective.shape[1] != len(folds):
        raise ValueError(f"objective {objective.shape} does not match {len(folds)} questions")
    chosen = []
    config_of = np.zeros(len(folds), dtype=np.int64)
    for fold in np.unique(folds):
        held_out = folds == fold
        if held_out.all():
            raise ValueError("every question is in one fold; nothing to train on")
        means = objective[:, ~held_out].mean(axis=1)
        best = int(np.flatnonzero(means >= means.max() - 1e-12)[0])
        chosen.append(best)
        config_of[held_out] = best
    return CrossValidation(chosen, config_of)
