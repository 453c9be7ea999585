"""Choose the shipped retrieval defaults jointly, out of fold, from `supportbot eval` records.

    .venv/bin/python -m benchmarks.choose_retrieval_defaults DATA_DIR/eval-cache/records-*.json

Hybrid and hybrid + rerank share the first stage (fusion method, weights, depth), so the
defaults are chosen on the sum of their nDCG@10: each first stage of the fusion grid (RRF at
k=60 and the normalised methods) × article evidence (0, 0.1, 0.2) × rerank weight (1, 0.8).
5 folds: each fold's pick is scored on it; prints how often each configuration was picked,
the out-of-fold scores against the previous defaults (paired), and the best on all questions.
"""

from __future__ import annotations

import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np

from bot.evaluation.bootstrap import bootstrap_mean, paired_difference
from bot.evaluation.crossval import fusion_grid, score_matrix
from bot.evaluation.folds import assign_folds, cross_validate
from bot.evaluation.records import load_records
from bot.evaluation.replay import METRICS, RankingConfig

PREVIOUS = RankingConfig()  # RRF k=60 1:1, 50 hits, reranker order alone


def main(path: Path, folds: int = 5, seed: int = 0) -> None:
    records = load_records(path)
    fold_of = assign_folds(len(records), folds, seed=seed, strata=[r.answerable for r in records])
    answerable = [i for i, r in enumerate(records) if r.answerable]
    ranked = [records[i] for i in answerable]
    first_stages = [c for c in fusion_grid(PREVIOUS) if c.fusion != "rrf" or c.rrf_k == 60]
    pairs = [
        (stage, replace(stage, rerank=True, rerank_document_evidence=ev, rerank_weight=w))
        for stage in first_stages
        for ev in (0.0, 0.1, 0.2)
        for w in (1.0, 0.8)
    ]
    hybrid = score_matrix(ranked, [p[0] for p in pairs])
    reranked = score_matrix(ranked, [p[1] for p in pairs])
    cv = cross_validate(hybrid["ndcg_at_10"] + reranked["ndcg_at_10"], fold_of[answerable])
    print(f"{len(pairs)} configurations, {len(ranked)} answerable questions, {folds} folds")
    for described, count in Counter(pairs[i][1].describe() for i in cv.chosen).most_common():
        print(f"  picked {count}×: {described}")
    for name, matrix in (("hybrid", hybrid), ("hybrid+rerank", reranked)):
        for metric in METRICS:
            oof, before = cv.out_of_fold(matrix[metric]), matrix[metric][0]
            print(
                f"{name} {metric}: previous {bootstrap_mean(before)}, out of fold "
                f"{bootstrap_mean(oof)}, paired {paired_difference(oof, before)}"
            )
    best = int(np.argmax((hybrid["ndcg_at_10"] + reranked["ndcg_at_10"]).mean(axis=1)))
    print(f"best on all questions: {pairs[best][1].describe()}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
