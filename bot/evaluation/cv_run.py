"""`supportbot eval --folds K`: gather (or reuse) the records, then cross-validate each pipeline."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bot.evaluation.crossval import CrossValidationReport, cross_validated_report, default_grids
from bot.evaluation.questions import LabelledQuery
from bot.evaluation.records import (
    QuestionRecord,
    cache_key,
    collect_records,
    load_records,
    save_records,
)
from bot.evaluation.replay import RankingConfig
from bot.pipeline import SupportPipeline
from bot.rerank.stage import RerankStage
from bot.retrieval.protocol import SearchBackend
from bot.settings import Settings

RECORD_DEPTH = 100
"""Hits kept per retriever in a record: the deepest first stage the grids try."""


async def gather_records(
    settings: Settings,
    backend: SearchBackend,
    pipeline: SupportPipeline,
    rerank_stage: RerankStage,
    kb: str,
    queries: Sequence[LabelledQuery],
    on_query: Callable[[], None] | None = None,
) -> list[QuestionRecord]:
    """Records for `queries`, from the cache under the data dir when nothing changed."""
    stats = await backend.stats(kb)
    questions = hashlib.sha256(
        json.dumps([asdict(q) for q in queries], sort_keys=True).encode()
    ).hexdigest()
    key = cache_key(
        kb,
        backend.name,
        stats.documents,
        stats.chunks,
        stats.last_indexed,
        settings.embedding_model,
        settings.bm25_boost_title,
        settings.bm25_boost_headings,
        settings.bm25_boost_body,
        rerank_stage.reranker_name,
        RECORD_DEPTH,
        questions,
    )
    path = settings.data_dir / "eval-cache" / f"records-{key}.json"
    if path.exists():
        return load_records(path)
    records = await collect_records(
        pipeline.retriever,
        rerank_stage if rerank_stage.reranker_name != "none" else None,
        kb,
        queries,
        depth=RECORD_DEPTH,
        max_query_chars=pipeline.max_query_chars,
        on_query=on_query,
    )
    save_records(path, records)
    return records


def cross_validate_pipelines(
    settings: Settings, records: Sequence[QuestionRecord], *, folds: int, seed: int = 0
) -> CrossValidationReport:
    def shipped(mode: str, rerank: bool) -> RankingConfig:
        return RankingConfig.from_settings(settings, mode, rerank)  # type: ignore[arg-type]

    return cross_validated_report(records, default_grids(shipped), folds=folds, seed=seed)


def report_to_dict(report: CrossValidationReport) -> dict[str, Any]:
    return {
        "folds": report.folds,
        "seed": report.seed,
        "answerable": report.answerable,
        "unanswerable": report.unanswerable,
        "pipelines": [
            {
                "name": p.name,
                "shipped": asdict(p.shipped),
                "shipped_scores": {k: asdict(v) for k, v in p.shipped_scores.items()},
                "out_of_fold": {k: asdict(v) for k, v in p.out_of_fold.items()},
                "gain_over_shipped_ndcg": asdict(p.gain_over_shipped),
                "chosen_per_fold": [asdict(c) for c in p.chosen],
            }
            for p in report.pipelines
        ],
    }


def write_report(path: Path, report: CrossValidationReport) -> None:
    path.write_text(json.dumps(report_to_dict(report), indent=2), encoding="utf-8")
