"""Per-question evidence, gathered once: each retriever's ranked list and every reranker score.

Tuning fusion and blending then needs no model and no index: `bot.evaluation.replay`
re-ranks these records for any configuration in memory, so a grid of hundreds of
configurations over all questions takes seconds. Records are cached as JSON, keyed by
everything that changes them (KB contents, models, reranker, depth, the questions).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from bot.domain import Candidate, Hit
from bot.errors import RerankError
from bot.evaluation.questions import LabelledQuery
from bot.pipeline import clean_query
from bot.rerank.stage import RerankStage
from bot.retrieval.hybrid import HybridRetriever

RECORDS_VERSION = 1


@dataclass(frozen=True, slots=True)
class RankedHit:
    chunk_id: str
    source_id: str
    score: float


@dataclass(frozen=True, slots=True)
class QuestionRecord:
    """One question's first-stage lists (best first) and reranker scores by chunk id."""

    id: str
    relevant: tuple[str, ...]
    bm25: tuple[RankedHit, ...]
    dense: tuple[RankedHit, ...]
    rerank: dict[str, float]
    """Reranker score of every chunk in bm25 ∪ dense (empty when no reranker ran)."""

    @property
    def answerable(self) -> bool:
        return bool(self.relevant)

    def source_ids(self) -> dict[str, str]:
        return {hit.chunk_id: hit.source_id for hit in (*self.bm25, *self.dense)}


async def collect_records(
    retriever: HybridRetriever,
    rerank_stage: RerankStage | None,
    kb: str,
    queries: Sequence[LabelledQuery],
    *,
    depth: int,
    max_query_chars: int = 2000,
    on_query: Callable[[], None] | None = None,
) -> list[QuestionRecord]:
    """Run each retriever once per question (top `depth`) and rerank the union."""
    records = []
    for query in queries:
        text = clean_query(query.query, max_query_chars)
        bm25, dense = await retriever.ranked_lists(kb, text, depth)
        rerank: dict[str, float] = {}
        if rerank_stage is not None:
            rerank = await _rerank_scores(rerank_stage, text, [*bm25, *dense])
        records.append(
            QuestionRecord(query.id, query.relevant, _ranked(bm25), _ranked(dense), rerank)
        )
        if on_query:
            on_query()
    return records


async def _rerank_scores(stage: RerankStage, query: str, hits: list[Hit]) -> dict[str, float]:
    unique = {hit.chunk.chunk_id: Candidate(hit.chunk, 0.0) for hit in hits}
    if not unique:
        return {}
    outcome = await stage.rerank(query, list(unique.values()))
    if not outcome.reranked:
        raise RerankError(f"the reranker did not run during evaluation: {outcome.reason}")
    return {c.chunk.chunk_id: float(c.rerank_score or 0.0) for c in outcome.candidates}


def _ranked(hits: Sequence[Hit]) -> tuple[RankedHit, ...]:
    ordered = sorted(hits, key=lambda hit: hit.rank)
    return tuple(RankedHit(h.chunk.chunk_id, h.chunk.source_id, float(h.score)) for h in ordered)


def cache_key(*parts: object) -> str:
    digest = hashlib.sha256(repr((RECORDS_VERSION, *parts)).encode())
    return digest.hexdigest()[:20]


def save_records(path: Path, records: Sequence[QuestionRecord]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [asdict(record) for record in records]
    path.write_text(json.dumps(rows), encoding="utf-8")


def load_records(path: Path) -> list[QuestionRecord]:
    rows = json.loads(path.read_text(encoding="utf-8"))
    return [
        QuestionRecord(
            id=row["id"],
            relevant=tuple(row["relevant"]),
            bm25=tuple(RankedHit(**hit) for hit in row["bm25"]),
            dense=tuple(RankedHit(**hit) for hit in row["dense"]),
            rerank={key: float(value) for key, value in row["rerank"].items()},
        )
        for row in rows
    ]
