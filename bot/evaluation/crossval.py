"""Out-of-fold evaluation of each pipeline: tune on K−1 folds, score on the held-out one.

For each pipeline (bm25, dense, hybrid, hybrid+rerank) a grid of configurations is
replayed over every question's record (`bot.evaluation.replay`), giving a
(configurations × questions) matrix per metric. `cross_validate` picks the best nDCG@10
row on the training folds; the held-out fold is scored with it. The shipped settings are
row 0 of every grid and are also scored on all questions as they are, untuned.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from bot.evaluation.bootstrap import Interval, bootstrap_mean, paired_difference
from bot.evaluation.folds import assign_folds, cross_validate
from bot.evaluation.records import QuestionRecord
from bot.evaluation.replay import METRICS, RankingConfig, question_metrics, ranked_chunks
from bot.retrieval.fusion import FUSION_METHODS

DENSE_SHARES = (0.5, 0.6, 0.67, 0.75, 0.8, 0.9)
RRF_KS = (10, 30, 60)
DEPTHS = (50, 100)
RERANK_WEIGHTS = (1.0, 0.8, 0.6, 0.5)
DOCUMENT_EVIDENCE = (0.0, 0.1, 0.2)


def fusion_grid(shipped: RankingConfig) -> list[RankingConfig]:
    """Fusion methods × dense share × RRF k × retriever depth, the shipped one first."""
    grid = [shipped]
    for depth in DEPTHS:
        for share in DENSE_SHARES:
            base = replace(
                shipped,
                retriever_depth=depth,
                fusion_weight_bm25=round(1 - share, 2),
                fusion_weight_dense=share,
            )
            grid += [replace(base, fusion="rrf", rrf_k=k) for k in RRF_KS]
            grid += [replace(base, fusion="minmax"), replace(base, fusion="dbsf")]
    return list(dict.fromkeys(grid))


def rerank_grid(shipped: RankingConfig) -> list[RankingConfig]:
    """A few first stages × how much the reranker counts × how it blends × article evidence.

    Smaller than the fusion grid on purpose: the reranker's knobs multiply it.
    """
    first_stages = [replace(shipped, rerank_weight=1.0, rerank_document_evidence=0.0)]
    for depth in DEPTHS:
        dense_heavy = replace(
            first_stages[0], retriever_depth=depth, fusion_weight_bm25=0.4, fusion_weight_dense=0.6
        )
        first_stages += [replace(dense_heavy, fusion=method) for method in FUSION_METHODS]
    grid = [shipped]
    for first_stage in dict.fromkeys(first_stages):
        for evidence in DOCUMENT_EVIDENCE:
            base = replace(first_stage, rerank_document_evidence=evidence)
            grid.append(base)
            for weight in RERANK_WEIGHTS[1:]:
                for blend in ("rrf", "minmax"):
                    grid.append(replace(base, rerank_weight=weight, rerank_blend=blend))
    return list(dict.fromkeys(grid))


def depth_grid(shipped: RankingConfig) -> list[RankingConfig]:
    return list(dict.fromkeys([shipped, *(replace(shipped, retriever_depth=d) for d in DEPTHS)]))


@dataclass(frozen=True)
class PipelineGrid:
    name: str
    configs: list[RankingConfig]
    """configs[0] is what the settings ship."""


def default_grids(shipped: Callable[[str, bool], RankingConfig]) -> list[PipelineGrid]:
    """`shipped(mode, rerank)` is the pipeline as the settings configure it."""
    return [
        PipelineGrid("bm25", depth_grid(shipped("bm25", False))),
        PipelineGrid("dense", depth_grid(shipped("dense", False))),
        PipelineGrid("hybrid", fusion_grid(shipped("hybrid", False))),
        PipelineGrid("hybrid+rerank", rerank_grid(shipped("hybrid", True))),
    ]


@dataclass
class PipelineResult:
    name: str
    shipped: RankingConfig
    shipped_scores: dict[str, Interval]
    """The shipped settings on all questions, untuned."""
    out_of_fold: dict[str, Interval]
    """Tuned on K−1 folds, scored on the held-out fold."""
    chosen: list[RankingConfig]
    """The configuration each fold's training picked."""
    gain_over_shipped: Interval
    """Paired nDCG@10 difference, out-of-fold tuned − shipped."""
    per_question: dict[str, np.ndarray]
    """Out-of-fold values per metric, in record order (answerable questions only)."""
    shipped_per_question: dict[str, np.ndarray]


@dataclass
class CrossValidationReport:
    folds: int
    seed: int
    answerable: int
    unanswerable: int
    fold_of: dict[str, int]
    """Question id → fold, over all questions (unanswerable ones too), for reuse."""
    pipelines: list[PipelineResult]

    def result(self, name: str) -> PipelineResult:
        return next(p for p in self.pipelines if p.name == name)

    def compare(self, first: str, second: str, metric: str = "ndcg_at_10") -> Interval:
        """Paired out-of-fold difference first − second over the same questions."""
        return paired_difference(
            self.result(first).per_question[metric], self.result(second).per_question[metric]
        )


def score_matrix(
    records: Sequence[QuestionRecord], configs: Sequence[RankingConfig]
) -> dict[str, np.ndarray]:
    """Metric → (configurations × questions) values."""
    values = {name: np.zeros((len(configs), len(records))) for name in METRICS}
    for row, config in enumerate(configs):
        for column, record in enumerate(records):
            scored = question_metrics(record, ranked_chunks(record, config))
            for name in METRICS:
                values[name][row, column] = scored[name]
    return values


def cross_validated_report(
    records: Sequence[QuestionRecord],
    grids: Sequence[PipelineGrid],
    *,
    folds: int = 5,
    seed: int = 0,
    on_grid: Callable[[str], None] | None = None,
) -> CrossValidationReport:
    fold_numbers = assign_folds(
        len(records), folds, seed=seed, strata=[r.answerable for r in records]
    )
    answerable = [i for i, r in enumerate(records) if r.answerable]
    ranked_records = [records[i] for i in answerable]
    ranked_folds = fold_numbers[answerable]
    results = []
    for grid in grids:
        matrix = score_matrix(ranked_records, grid.configs)
        cv = cross_validate(matrix["ndcg_at_10"], ranked_folds)
        oof = {name: cv.out_of_fold(values) for name, values in matrix.items()}
        shipped = {name: values[0] for name, values in matrix.items()}
        results.append(
            PipelineResult(
                name=grid.name,
                shipped=grid.configs[0],
                shipped_scores={name: bootstrap_mean(v) for name, v in shipped.items()},
                out_of_fold={name: bootstrap_mean(v) for name, v in oof.items()},
                chosen=[grid.configs[row] for row in cv.chosen],
                gain_over_shipped=paired_difference(oof["ndcg_at_10"], shipped["ndcg_at_10"]),
                per_question=oof,
                shipped_per_question=shipped,
            )
        )
        if on_grid:
            on_grid(grid.name)
    return CrossValidationReport(
        folds=folds,
        seed=seed,
        answerable=len(answerable),
        unanswerable=len(records) - len(answerable),
        fold_of={r.id: int(f) for r, f in zip(records, fold_numbers, strict=True)},
        pipelines=results,
    )
