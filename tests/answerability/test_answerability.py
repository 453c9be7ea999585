"""Answerability: the logistic model, out-of-fold calibration, and declines end to end on
the sample help center with real components (packaged MiniLM, late interaction)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import numpy as np
import pytest
from typer.testing import CliRunner

from bot.answerability.calibration import (
    LabelledFeatures,
    calibrate,
    cross_validated_declines,
    threshold_for,
)
from bot.answerability.defaults import DEFAULT_MODELS, default_model
from bot.answerability.logistic import fit_logistic
from bot.answerability.model import AnswerabilityModel
from bot.api.app import create_app
from bot.cli.main import app
from bot.errors import InvalidRequest
from bot.services import build_services
from tests.conftest import REPO_ROOT
from tests.support.live_server import serve
from tests.support.sample_kb import SAMPLE_KB, copy_sample, sample_settings

QUESTIONS = REPO_ROOT / "examples" / "help-center-questions.jsonl"
OFF_TOPIC = (
    "what is the capital of Mongolia?",
    "write me a haiku about autumn leaves",
    "how do I bake sourdough bread at home",
    "who won the football world cup in 1998",
    "my car makes a grinding noise when braking, what should I do",
    "what will the weather be like in Lisbon this weekend",
)
"""Questions no note-taking help center answers (written here, not taken from any set)."""


def synthetic(n: int, seed: int = 0) -> list[LabelledFeatures]:
    """Answerable questions have a larger margin and fewer weak tokens, with overlap."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        answerable = i % 5 != 0
        margin = rng.normal(0.08 if answerable else 0.03, 0.03)
        weak = rng.normal(0.45 if answerable else 0.75, 0.15)
        features = {"doc_margin": margin, "rare_weak_token_share": weak}
        rows.append(LabelledFeatures(features, answerable))
    return rows


def test_logistic_fit_finds_the_direction_of_each_feature() -> None:
    rows = synthetic(200)
    x = np.array([[r.features["doc_margin"], r.features["rare_weak_token_share"]] for r in rows])
    y = np.array([r.answerable for r in rows])
    fit = fit_logistic(x, y, l2=1.0)
    assert fit.weights[0] > 0 > fit.weights[1]
    accuracy = ((fit.decision(x) > 0) == y).mean()
    assert accuracy > 0.8
    with pytest.raises(ValueError, match="both"):
        fit_logistic(x[y], y[y])


def test_threshold_allows_at_most_the_share_of_false_declines() -> None:
    scores = np.arange(100, dtype=np.float64)
    threshold = threshold_for(scores, 0.05)
    assert (scores < threshold).sum() == 5
    assert threshold_for(scores, 0.0) == 0.0


def test_calibration_reports_out_of_fold_rates_with_intervals() -> None:
    rows = synthetic(200)
    model, report = calibrate(rows, scored_by="late-interaction:test", max_false_decline=0.05)
    assert model.features == ("doc_margin", "rare_weak_token_share")
    unanswerable, answerable = report.declined_unanswerable, report.declined_answerable
    assert (unanswerable.of, answerable.of) == (40, 160)
    assert unanswerable.value > 0.5  # the classes are well apart
    assert answerable.value <= 0.1
    for rate in (unanswerable, answerable):
        assert rate.low <= rate.value <= rate.high
    # Each question's decision came from a model fitted without it: the same figures
    # come back when recomputed directly.
    declined = cross_validated_declines(rows, model.features, max_false_decline=0.05)
    assert declined[[not r.answerable for r in rows]].sum() == unanswerable.count
    point = model.operating_point
    assert point is not None and point.unanswerable == 40 and model.questions == 200
    again = AnswerabilityModel.from_json(json.loads(json.dumps(model.to_json())))
    assert again == model


def test_calibration_without_token_evidence_uses_the_fallback_features() -> None:
    rows = [
        LabelledFeatures(
            {
                "best_rerank": 0.6 if r.answerable else 0.4,
                "doc_margin": r.features["doc_margin"],
                "unmatched_word_share": 0.1,
            },
            r.answerable,
        )
        for r in synthetic(60)
    ]
    model, _ = calibrate(rows, scored_by="cross-encoder:test")
    assert model.features == ("best_rerank", "doc_margin", "unmatched_word_share")


def test_too_few_unanswerable_questions_is_a_clear_error() -> None:
    rows = [r for r in synthetic(100) if r.answerable] + synthetic(10)[:1]
    with pytest.raises(InvalidRequest, match="unanswerable"):
        calibrate(rows, scored_by="x")


def test_a_best_score_below_the_floor_declines_whatever_the_model_says() -> None:
    model = default_model(next(iter(DEFAULT_MODELS)))
    assert model is not None and model.best_rerank_floor is not None
    confident = model.threshold + 0.5
    assert not model.declines(confident, model.best_rerank_floor + 0.01)
    assert model.declines(confident, model.best_rerank_floor - 0.01)
    assert model.declines(model.threshold - 0.01, 0.99)
    assert not model.declines(confident, None)  # not reranked: the floor has nothing to judge
    assert AnswerabilityModel.from_json(model.to_json()).best_rerank_floor == 0.40


def test_the_default_applies_only_to_the_reranker_it_was_fitted_on() -> None:
    (scored_by,) = DEFAULT_MODELS
    model = default_model(scored_by)
    assert model is not None and model.origin == "default"
    assert default_model("cross-encoder:cross-encoder/ms-marco-MiniLM-L6-v2") is None


@pytest.mark.model
async def test_default_declines_off_topic_questions_and_answers_the_sample_ones(
    sample_kb_dir: Path, tmp_path: Path
) -> None:
    services = build_services(sample_settings(copy_sample(sample_kb_dir, tmp_path / "data")))
    try:
        rows = [json.loads(line) for line in QUESTIONS.read_text().splitlines()]
        answerable = [r["query"] for r in rows if r["relevant"]]
        false_declines = []
        for question in answerable:
            outcome = await services.pipeline.search(SAMPLE_KB, question)
            assert outcome.answerable_score is not None
            if not outcome.answerable:
                false_declines.append(question)
        assert len(false_declines) <= 1, false_declines
        for question in OFF_TOPIC:
            outcome = await services.pipeline.search(SAMPLE_KB, question)
            assert not outcome.answerable, (question, outcome.answerable_score)
            assert outcome.answerable_score is not None and outcome.answerable_score < 0.5
        answer = await services.pipeline.answer(SAMPLE_KB, OFF_TOPIC[0])
        assert answer.mode == "declined" and answer.handoff_suggested and not answer.citations
    finally:
        await services.aclose()


@pytest.mark.model
def test_calibrate_stores_the_kb_calibration_and_readyz_shows_it(
    sample_kb_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = copy_sample(sample_kb_dir, tmp_path / "data")
    labelled = tmp_path / "labelled.jsonl"
    off_topic = [{"id": f"off-{i}", "query": q, "relevant": []} for i, q in enumerate(OFF_TOPIC)]
    labelled.write_text(
        QUESTIONS.read_text() + "".join(json.dumps(row) + "\n" for row in off_topic)
    )
    monkeypatch.chdir(tmp_path)  # no stray .env
    env = {"SUPPORTBOT_DATA_DIR": str(data_dir), "SUPPORTBOT_RERANKER": "late-interaction"}
    runner = CliRunner()
    args = ["calibrate", "--kb", SAMPLE_KB, "--queries", str(labelled), "--folds", "3"]
    result = runner.invoke(app, args, env=env)
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    assert "When to decline, out-of-fold (3 folds)" in output
    rows = [json.loads(line) for line in labelled.read_text().splitlines()]
    unanswerable = sum(not row["relevant"] for row in rows)
    answerable = len(rows) - unanswerable
    # unanswerable / answerable rows
    assert f"of {unanswerable}" in output and f"of {answerable}" in output
    stored = json.loads((data_dir / "answerability" / f"{SAMPLE_KB}.json").read_text())
    assert stored["origin"] == "kb" and stored["questions"] == len(rows)

    with (
        serve(create_app(sample_settings(data_dir))) as url,
        httpx.Client(base_url=url, timeout=60) as client,
    ):
        ready = client.get("/readyz").json()["components"]["answerability"]
        assert ready["default"]["origin"] == "default"
        in_force = ready["kbs"][SAMPLE_KB]
        assert in_force["origin"] == "kb" and in_force["questions"] == len(rows)
        assert in_force["fitted_at"] == stored["fitted_at"]
        assert in_force["operating_point"]["unanswerable"] == unanswerable
        hit = client.post("/v1/search", json={"kb": SAMPLE_KB, "query": OFF_TOPIC[1]}).json()
        assert hit["answerable"] is False and 0 <= hit["answerable_score"] < 1

    result = runner.invoke(
        app, ["calibrate", "--kb", SAMPLE_KB, "--queries", str(labelled), "--reset"], env=env
    )
    assert result.exit_code == 0 and "deleted" in result.output
    assert not (data_dir / "answerability" / f"{SAMPLE_KB}.json").exists()
