"""Re-rank a `QuestionRecord` under any retrieval configuration, exactly as serving would.

Uses the serving code's own fusion (`bot.retrieval.fusion.fuse`) and blend
(`bot.rerank.blend.blended_order`), so a configuration scored here and then shipped as
the defaults ranks the same through `/v1/search`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Literal

from bot.evaluation import metrics
from bot.evaluation.records import QuestionRecord
from bot.rerank.blend import blended_order, with_document_evidence
from bot.retrieval.fusion import FusionMethod, fuse
from bot.settings import Settings

Mode = Literal["bm25", "dense", "hybrid"]
METRICS = ("ndcg_at_10", "hit_at_5", "mrr_at_10")


@dataclass(frozen=True, slots=True)
class RankingConfig:
    """The tunables of one pipeline; field names match `Settings` where they exist."""

    mode: Mode = "hybrid"
    rerank: bool = False
    fusion: FusionMethod = "rrf"
    rrf_k: float = 60
    fusion_weight_bm25: float = 1.0
    fusion_weight_dense: float = 1.0
    retriever_depth: int = 50
    candidates: int = 50
    rerank_weight: float = 1.0
    rerank_blend: FusionMethod = "rrf"
    rerank_document_evidence: float = 0.0

    @classmethod
    def from_settings(cls, settings: Settings, mode: Mode, rerank: bool) -> RankingConfig:
        values = {
            f.name: getattr(settings, f.name) for f in fields(cls) if hasattr(settings, f.name)
        }
        return cls(mode=mode, rerank=rerank, **{k: v for k, v in values.items() if k != "mode"})

    def describe(self) -> str:
        """The settings that matter for this pipeline, as `name=value` pairs."""
        parts = []
        if self.mode == "hybrid":
            parts.append(f"fusion={self.fusion}")
            if self.fusion == "rrf" or (self.rerank and self.rerank_blend == "rrf"):
                parts.append(f"rrf_k={self.rrf_k:g}")
            parts.append(f"w_bm25={self.fusion_weight_bm25:g} w_dense={self.fusion_weight_dense:g}")
        parts.append(f"depth={self.retriever_depth}")
        if self.rerank:
            parts.append(f"rerank_weight={self.rerank_weight:g} blend={self.rerank_blend}")
            parts.append(f"doc_evidence={self.rerank_document_evidence:g}")
        return " ".join(parts)


def ranked_chunks(record: QuestionRecord, config: RankingConfig, top_k: int = 50) -> list[str]:
    """Chunk ids best first, as `pipeline.search(mode, rerank, top_k)` would return them."""
    depth = config.retriever_depth
    bm25 = [(h.chunk_id, h.score) for h in record.bm25[:depth]]
    dense = [(h.chunk_id, h.score) for h in record.dense[:depth]]
    if config.mode == "bm25":
        lists, weights = [bm25], [1.0]
    elif config.mode == "dense":
        lists, weights = [dense], [1.0]
    else:
        lists, weights = [bm25, dense], [config.fusion_weight_bm25, config.fusion_weight_dense]
    fused = fuse(lists, weights, method=config.fusion, k=config.rrf_k)[: config.candidates]
    if not config.rerank or not record.rerank:
        return [chunk_id for chunk_id, _ in fused[:top_k]]
    sources = record.source_ids()
    scores = with_document_evidence(
        {chunk_id: record.rerank[chunk_id] for chunk_id, _ in fused},
        sources,
        config.rerank_document_evidence,
    )
    order = blended_order(
        fused,
        scores,
        weight=config.rerank_weight,
        method=config.rerank_blend,
        k=config.rrf_k,
    )
    return order[:top_k]


def question_metrics(record: QuestionRecord, ranked: list[str]) -> dict[str, float]:
    """Document-level nDCG@10, Hit@5 and MRR@10 of one answerable question."""
    sources = record.source_ids()
    ranking = metrics.document_ranking(sources[chunk_id] for chunk_id in ranked)
    flags = metrics.relevant_flags(ranking, record.relevant)
    n_relevant = len(record.relevant)
    return {
        "ndcg_at_10": metrics.ndcg_at(flags, 10, n_relevant),
        "hit_at_5": metrics.hit_at(flags, 5),
        "mrr_at_10": metrics.mrr_at(flags, 10),
    }
