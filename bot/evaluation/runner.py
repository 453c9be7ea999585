"""Runs labelled questions through each retrieval pipeline and aggregates the metrics."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

from bot.answer import SearchOutcome
from bot.answerability.calibration import DeclineReport, LabelledFeatures, calibrate
from bot.answerability.model import AnswerabilityModel
from bot.errors import InvalidRequest
from bot.evaluation import metrics
from bot.evaluation.questions import LabelledQuery, load_queries
from bot.evaluation.threshold import ThresholdSuggestion, suggest_threshold
from bot.pipeline import SupportPipeline
from bot.retrieval.hybrid import RetrievalMode


@dataclass(frozen=True, slots=True)
class PipelineSpec:
    name: str
    mode: RetrievalMode
    rerank: bool


PIPELINES = (
    PipelineSpec("bm25", "bm25", False),
    PipelineSpec("dense", "dense", False),
    PipelineSpec("hybrid", "hybrid", False),
    PipelineSpec("hybrid+rerank", "hybrid", True),
)


@dataclass
class PipelineReport:
    name: str
    queries: int
    hit_at_5: float
    p_at_5: float
    recall_at_10: float
    mrr_at_10: float
    ndcg_at_10: float
    p50_ms: float
    p95_ms: float
    reranked_fraction: float | None = None
    decline_rate_unanswerable: float | None = None
    false_decline_rate: float | None = None
    unanswerable_queries: int = 0
    suggested_threshold: ThresholdSuggestion | None = None
    """Reranked pipelines: the highest threshold with ≤ 5% false declines on these questions."""
    suggested_calibration: tuple[AnswerabilityModel, DeclineReport] | None = None
    """Reranked pipelines with enough of both kinds of question: what `supportbot calibrate`
    would fit, and its out-of-fold decline rates."""
    per_query: dict[str, float] = field(default_factory=dict)


async def evaluate(
    pipeline: SupportPipeline,
    kb: str,
    queries: Sequence[LabelledQuery],
    pipelines: Sequence[PipelineSpec] = PIPELINES,
    on_query: Callable[[], None] | None = None,
    *,
    folds: int = 5,
    seed: int = 0,
) -> list[PipelineReport]:
    answerable = [q for q in queries if q.relevant]
    unanswerable = [q for q in queries if not q.relevant]
    reports = []
    for spec in pipelines:
        rows: dict[str, list[float]] = {k: [] for k in ("hit", "p5", "r10", "mrr", "ndcg")}
        latencies: list[float] = []
        reranked = 0
        declined_answerable = 0
        ndcg_by_query: dict[str, float] = {}
        best_answerable: list[float] = []
        best_unanswerable: list[float] = []
        labelled: list[LabelledFeatures] = []

        for query in answerable:
            started = time.perf_counter()
            outcome = await pipeline.search(
                kb, query.query, mode=spec.mode, rerank=spec.rerank, top_k=50
            )
            latencies.append((time.perf_counter() - started) * 1000)
            reranked += outcome.reranked
            declined_answerable += not outcome.answerable
            if spec.rerank and outcome.reranked:
                labelled.append(await _labelled(pipeline, outcome, True))
            if spec.rerank and (best := best_rerank_score(outcome)) is not None:
                best_answerable.append(best)
            ranking = metrics.document_ranking(c.chunk.source_id for c in outcome.results)
            flags = metrics.relevant_flags(ranking, query.relevant)
            n_rel = len(query.relevant)
            rows["hit"].append(metrics.hit_at(flags, 5))
            rows["p5"].append(metrics.precision_at(flags, 5))
            rows["r10"].append(metrics.recall_at(flags, 10, n_rel))
            rows["mrr"].append(metrics.mrr_at(flags, 10))
            rows["ndcg"].append(metrics.ndcg_at(flags, 10, n_rel))
            ndcg_by_query[query.id] = rows["ndcg"][-1]
            if on_query:
                on_query()
        declined = 0
        for query in unanswerable:
            outcome = await pipeline.search(
                kb, query.query, mode=spec.mode, rerank=spec.rerank, top_k=50
            )
            declined += not outcome.answerable
            if spec.rerank and outcome.reranked:
                labelled.append(await _labelled(pipeline, outcome, False))
            if spec.rerank and (best := best_rerank_score(outcome)) is not None:
                best_unanswerable.append(best)
            if on_query:
                on_query()
        n = max(len(answerable), 1)
        reports.append(
            PipelineReport(
                name=spec.name,
                queries=len(answerable),
                hit_at_5=sum(rows["hit"]) / n,
                p_at_5=sum(rows["p5"]) / n,
                recall_at_10=sum(rows["r10"]) / n,
                mrr_at_10=sum(rows["mrr"]) / n,
                ndcg_at_10=sum(rows["ndcg"]) / n,
                p50_ms=metrics.percentile(latencies, 50),
                p95_ms=metrics.percentile(latencies, 95),
                reranked_fraction=reranked / n if spec.rerank else None,
                decline_rate_unanswerable=(
                    declined / len(unanswerable) if spec.rerank and unanswerable else None
                ),
                false_decline_rate=declined_answerable / n if spec.rerank else None,
                unanswerable_queries=len(unanswerable),
                suggested_threshold=suggest_threshold(best_answerable, best_unanswerable),
                suggested_calibration=_suggest_calibration(pipeline, labelled, folds, seed),
                per_query=ndcg_by_query,
            )
        )
    return reports


async def _labelled(
    pipeline: SupportPipeline, outcome: SearchOutcome, answerable: bool
) -> LabelledFeatures:
    features = await pipeline.answerability.features(outcome.query, outcome.results)
    return LabelledFeatures(features, answerable)


def _suggest_calibration(
    pipeline: SupportPipeline, labelled: Sequence[LabelledFeatures], folds: int, seed: int
) -> tuple[AnswerabilityModel, DeclineReport] | None:
    try:
        return calibrate(
            labelled, scored_by=pipeline.answerability.scored_by, folds=folds, seed=seed
        )
    except InvalidRequest:  # too few questions of one kind, or no features
        return None


def best_rerank_score(outcome: SearchOutcome) -> float | None:
    """The top result's rerank score, when the reranker ran."""
    if not outcome.reranked or not outcome.results:
        return None
    return outcome.results[0].rerank_score


def reports_to_json(reports: Sequence[PipelineReport]) -> str:
    return json.dumps([asdict(r) for r in reports], indent=2, default=str)


__all__ = ["PIPELINES", "LabelledQuery", "evaluate", "load_queries", "reports_to_json"]
