"""Replay retrieval ideas out of fold against the shipped defaults (issue 11, part 3).

    .venv/bin/python -m benchmarks.retrieval_ideas RECORDS.json LISTS.json

RECORDS: `supportbot eval`'s cache (`<data dir>/eval-cache/records-*.json`); LISTS:
`benchmarks.retrieval_ideas_lists`. Each idea is a grid whose row 0 is the shipped pipeline
(min-max 0.4 BM25 / 0.6 dense over 100 hits each; the top 50 reranked by late interaction
with article evidence 0.1), so folds that find nothing better keep the defaults. Per idea and
pipeline, a row is chosen on 4 folds and scored on the 5th, for 10 fold seeds; each
question's out-of-fold score is averaged over the seeds and compared with the shipped
pipeline's, paired (bootstrap interval over questions). Ideas that change the first stage
are also chosen jointly (hybrid + hybrid+rerank nDCG@10), since both pipelines share it.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bot.evaluation import metrics
from bot.evaluation.bootstrap import bootstrap_mean, paired_difference
from bot.evaluation.folds import assign_folds, cross_validate
from bot.evaluation.records import QuestionRecord, load_records
from bot.evaluation.replay import METRICS
from bot.rerank.blend import blended_order, with_document_evidence
from bot.retrieval.fusion import FusionMethod, fuse

Ranked = list[tuple[str, float]]
SEEDS = range(10)
LIST_WEIGHTS = (0.2, 0.4, 0.6, 0.8, 1.0)


@dataclass(frozen=True)
class Variant:
    """One configuration: extra first-stage list and its weight, and how the rerank runs."""

    label: str = "shipped"
    extra: str | None = None
    """`li_union`, `li_all`, `rm3` (a third fused list) or `typo` (replaces BM25's list)."""
    weight: float = 0.0
    rerank_weight: float = 1.0
    rerank_blend: FusionMethod = "rrf"
    evidence: float = 0.1
    rerank_score: str = "li"
    """`li`, `li_idf:<γ>/<specials>`, `li_mask:<k>`, `cos:<α>` or `fused:<α>` (α × that score
    added), or `article:<λ>`: (1 − λ) × the chunk's MaxSim + λ × its article's, each query
    token's best match over all of that article's chunks among the reranked candidates."""


class Evidence:
    def __init__(self, records: list[QuestionRecord], lists: dict[str, Any]) -> None:
        self.records = records
        self.questions: dict[str, dict[str, Any]] = lists["questions"]
        self.source: dict[str, str] = dict(lists["source"])
        for record in records:
            self.source.update(record.source_ids())

    def first_stage(self, r: QuestionRecord, v: Variant) -> Ranked:
        q = self.questions[r.id]
        bm25: Ranked = [(h.chunk_id, h.score) for h in r.bm25]
        dense: Ranked = [(h.chunk_id, h.score) for h in r.dense]
        lists, weights = [bm25, dense], [0.4, 0.6]
        if v.extra == "typo" and q["typo"] is not None:
            lists[0] = [(c, s) for c, s in q["typo"]]
        elif v.extra == "rm3":
            lists.append([(c, s) for c, s in q["rm3"]])
            weights.append(v.weight)
        elif v.extra == "li_union":
            ids = {c for c, _ in (*bm25, *dense)}
            lists.append(sorted(((c, q["li"][c]) for c in ids), key=lambda p: -p[1]))
            weights.append(v.weight)
        elif v.extra == "li_all":
            lists.append(sorted(q["li"].items(), key=lambda p: -p[1])[:100])
            weights.append(v.weight)
        return fuse(lists, weights, method="minmax")[:50]

    def reranked(self, r: QuestionRecord, fused: Ranked, v: Variant) -> list[str]:
        q = self.questions[r.id]
        kind, _, arg = v.rerank_score.partition(":")
        li: dict[str, float] = q[kind][arg] if kind in ("li_idf", "li_mask") else q["li"]
        scores = {c: li[c] for c, _ in fused}
        if kind == "cos":
            cosine = {h.chunk_id: h.score for h in r.dense}
            floor = min(cosine.values())
            scores = {c: s + float(arg) * cosine.get(c, floor) for c, s in scores.items()}
        elif kind == "fused":
            scores = {
                c: s + float(arg) * f for (c, f), s in zip(fused, scores.values(), strict=True)
            }
        elif kind == "article":
            scores = self._with_article_maxsim(q["li_tokens"], fused, float(arg))
        scores = with_document_evidence(scores, self.source, v.evidence)
        return blended_order(fused, scores, weight=v.rerank_weight, method=v.rerank_blend, k=60)

    def _with_article_maxsim(
        self, tokens: dict[str, list[float]], fused: Ranked, share: float
    ) -> dict[str, float]:
        per_chunk = {c: np.asarray(tokens[c]) for c, _ in fused}
        article: dict[str, np.ndarray] = {}
        for c, values in per_chunk.items():
            best = article.get(self.source[c])
            article[self.source[c]] = values if best is None else np.maximum(best, values)
        return {
            c: float((1 - share) * v.mean() + share * article[self.source[c]].mean())
            for c, v in per_chunk.items()
        }

    def scored(self, r: QuestionRecord, ranked: list[str]) -> list[float]:
        ranking = metrics.document_ranking(self.source[c] for c in ranked)
        flags = metrics.relevant_flags(ranking, r.relevant)
        n = len(r.relevant)
        return [metrics.ndcg_at(flags, 10, n), metrics.hit_at(flags, 5), metrics.mrr_at(flags, 10)]

    def matrices(self, grid: list[Variant]) -> tuple[np.ndarray, np.ndarray]:
        """(hybrid, hybrid+rerank) metric values, shaped (variants, answerable, metrics)."""
        answerable = [r for r in self.records if r.answerable]
        hybrid = np.zeros((len(grid), len(answerable), len(METRICS)))
        reranked = np.zeros_like(hybrid)
        for row, variant in enumerate(grid):
            for col, record in enumerate(answerable):
                fused = self.first_stage(record, variant)
                hybrid[row, col] = self.scored(record, [c for c, _ in fused])
                reranked[row, col] = self.scored(record, self.reranked(record, fused, variant))
        return hybrid, reranked


def out_of_fold(
    records: list[QuestionRecord], objective: np.ndarray, *values: np.ndarray
) -> tuple[list[np.ndarray], Counter[int]]:
    """Per matrix, each question's out-of-fold values averaged over SEEDS; rows picked."""
    strata = [r.answerable for r in records]
    answerable = [i for i, r in enumerate(records) if r.answerable]
    means = [np.zeros(v.shape[1:]) for v in values]
    picks: Counter[int] = Counter()
    for seed in SEEDS:
        folds = assign_folds(len(records), 5, seed=seed, strata=strata)[answerable]
        cv = cross_validate(objective, folds)
        picks.update(cv.chosen)
        for mean, matrix in zip(means, values, strict=True):
            for m in range(matrix.shape[2]):
                mean[:, m] += cv.out_of_fold(matrix[:, :, m]) / len(SEEDS)
    return means, picks


def report(label: str, shipped: np.ndarray, oof: np.ndarray) -> None:
    for m, metric in enumerate(METRICS):
        print(
            f"    {label} {metric}: shipped {bootstrap_mean(shipped[:, m])}  out of fold "
            f"{bootstrap_mean(oof[:, m])}  paired {paired_difference(oof[:, m], shipped[:, m])}"
        )


def ideas() -> dict[str, list[Variant]]:
    shipped = Variant()
    lists = {
        f"{extra} (third list)": [shipped]
        + [Variant(f"w={w}", extra, w) for w in LIST_WEIGHTS if extra != "rm3" or w <= 0.4]
        for extra in ("li_union", "li_all", "rm3")
    }
    return {
        **lists,
        "typo-tolerant BM25": [shipped, Variant("typo", "typo")],
        "rerank + α·cosine": [shipped]
        + [Variant(f"α={a}", rerank_score=f"cos:{a}") for a in (0.05, 0.1, 0.2, 0.3, 0.5)],
        "rerank + α·fused": [shipped]
        + [Variant(f"α={a}", rerank_score=f"fused:{a}") for a in (0.05, 0.1, 0.2, 0.3, 0.5)],
        "article-level MaxSim": [shipped]
        + [
            Variant(f"λ={lam} evidence={ev}", evidence=ev, rerank_score=f"article:{lam}")
            for lam in (0.1, 0.2, 0.3, 0.5)
            for ev in (0.0, 0.1)
        ],
        "[MASK] query augmentation": [shipped]
        + [Variant(f"k={k}", rerank_score=f"li_mask:{k}") for k in (2, 4, 8, 16)],
        "IDF-weighted MaxSim": [shipped]
        + [
            Variant(f"γ={g} specials={s}", rerank_score=f"li_idf:{g}/{s}")
            for g in (0.25, 0.5, 1.0, 2.0)
            for s in ("one", "mean")
        ],
    }


def joint_grid(extra: str) -> list[Variant]:
    grid = [Variant()]
    for w in (0.0, *LIST_WEIGHTS):
        for rerank_weight in (1.0, 0.8, 0.6, 0.5):
            blends: tuple[FusionMethod, ...] = ("rrf", "minmax") if rerank_weight < 1 else ("rrf",)
            for blend in blends:
                for evidence in (0.0, 0.1, 0.2):
                    label = f"w={w} rerank_weight={rerank_weight} {blend} evidence={evidence}"
                    grid.append(Variant(label, extra, w, rerank_weight, blend, evidence))
    return grid


def main(records_path: Path, lists_path: Path) -> None:
    records = load_records(records_path)
    evidence = Evidence(records, json.loads(lists_path.read_text(encoding="utf-8")))
    changed = sum(evidence.questions[r.id]["typo"] is not None for r in records)
    print(f"{len(records)} questions; the typo mapping changed {changed}")
    run: Callable[[list[Variant]], tuple[np.ndarray, np.ndarray]] = evidence.matrices
    for name, grid in ideas().items():
        hybrid, reranked = run(grid)
        print(f"{name}: all-dev nDCG@10 per row (hybrid / +rerank)")
        for variant, h, rr in zip(
            grid, hybrid[:, :, 0].mean(1), reranked[:, :, 0].mean(1), strict=True
        ):
            print(f"    {variant.label}: {h:.3f} / {rr:.3f}")
        for label, matrix in (("hybrid", hybrid), ("hybrid+rerank", reranked)):
            (oof,), _ = out_of_fold(records, matrix[:, :, 0], matrix)
            report(label, matrix[0], oof)
    for extra in ("li_union", "li_all"):
        grid = joint_grid(extra)
        hybrid, reranked = run(grid)
        (oof_h, oof_r), picks = out_of_fold(
            records, hybrid[:, :, 0] + reranked[:, :, 0], hybrid, reranked
        )
        top = ", ".join(f"{grid[i].label} ×{n}" for i, n in picks.most_common(3))
        print(f"{extra} chosen jointly ({len(grid)} configurations); folds picked {top}")
        report("hybrid", hybrid[0], oof_h)
        report("hybrid+rerank", reranked[0], oof_r)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
