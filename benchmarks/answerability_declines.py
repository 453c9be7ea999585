"""Out-of-fold declines of the shipped answerability default against the previous one,
on the same searches, over several fold seeds, and what the features cost per search.

    SUPPORTBOT_DATA_DIR=DIR SUPPORTBOT_RERANKER=late-interaction \\
        .venv/bin/python -m benchmarks.answerability_declines KB QUESTIONS [SEEDS]

DIR holds an ingested KB (e.g. the Zulip help center); QUESTIONS is labelled JSONL with
`"relevant": []` for questions the KB does not answer. Each question is searched once
(hybrid + rerank, every candidate kept); both rules are then cross-validated on those
features exactly as `supportbot calibrate` does (model and threshold fitted on the other
folds), with the default's best-score floor on top. Prints declines per rule (fold seed 0
with 95 % bootstrap intervals, then the mean over SEEDS fold seeds), the paired difference
on seed 0, and the p50 time to compute each rule's features from one search's results.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from bot.answerability.calibration import (
    LabelledFeatures,
    cross_validated_declines,
    decline_report,
)
from bot.answerability.collect import labelled_features
from bot.answerability.defaults import DEFAULT_MODELS
from bot.evaluation.bootstrap import bootstrap_mean
from bot.evaluation.questions import load_queries
from bot.pipeline import SupportPipeline
from bot.services import build_services
from bot.settings import Settings

RULES = {
    "previous (margin + weak-token share, aim 4 %)": (("doc_margin", "weak_token_share"), 0.04),
    "shipped (margin + rare-weighted weak-token share, aim 3 %)": (
        ("doc_margin", "rare_weak_token_share"),
        0.03,
    ),
}


def declines(
    rows: Sequence[LabelledFeatures], names: Sequence[str], aim: float, seed: int, floor: float
) -> npt.NDArray[np.bool_]:
    best = np.array([row.features["best_rerank"] for row in rows])
    declined = cross_validated_declines(rows, names, seed=seed, max_false_decline=aim)
    return declined | (best < floor)


async def feature_cost(pipeline: SupportPipeline, kb: str, questions: Sequence[str]) -> None:
    timings: dict[str, list[float]] = {name: [] for name in RULES}
    for question in questions:
        outcome = await pipeline.search(kb, question, top_k=10_000)
        for name, (features, _) in RULES.items():
            started = time.perf_counter()
            await pipeline.answerability.features(outcome.query, outcome.results, features)
            timings[name].append((time.perf_counter() - started) * 1000)
    for name, values in timings.items():
        print(f"features of {name}: p50 {statistics.median(values):.2f} ms (n={len(values)})")


async def main(kb: str, questions: Path, seeds: int) -> None:
    services = build_services(Settings())
    try:
        queries = load_queries(questions)
        rows = await labelled_features(services.pipeline, kb, queries)
        await feature_cost(services.pipeline, kb, [q.query for q in queries[:60]])
    finally:
        await services.aclose()
    floor = next(iter(DEFAULT_MODELS.values()))["best_rerank_floor"]
    y = np.array([row.answerable for row in rows])
    seed0 = {}
    for name, (features, aim) in RULES.items():
        per_seed = [declines(rows, features, aim, seed, floor) for seed in range(seeds)]
        seed0[name] = per_seed[0]
        report = decline_report(per_seed[0], y, folds=5)
        u, a = report.declined_unanswerable, report.declined_answerable
        caught = np.mean([(d & ~y).sum() for d in per_seed])
        false = [(d & y).sum() for d in per_seed]
        print(
            f"{name}: seed 0 {u.count}/{u.of} unanswerable ({u.value:.0%}, {u.low:.0%}-"
            f"{u.high:.0%}), {a.count}/{a.of} answerable ({a.value:.1%}, {a.low:.1%}-"
            f"{a.high:.1%}); {seeds} seeds: {caught / u.of:.0%} at "
            f"{np.mean(false) / a.of:.1%} (at most {max(false)} answerable)"
        )
    previous, shipped = seed0.values()
    for label, mask in (("unanswerable", ~y), ("answerable", y)):
        diff = bootstrap_mean(shipped[mask].astype(float) - previous[mask].astype(float))
        interval = f"[{diff.low:+.3f}, {diff.high:+.3f}]"
        print(f"shipped - previous, {label} declined: {diff.mean:+.3f} {interval}")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 10))
