"""Folds, bootstrap intervals and out-of-fold tuning on synthetic records (no shared data)."""

from __future__ import annotations

import numpy as np
import pytest

from bot.evaluation.bootstrap import bootstrap_mean, paired_difference
from bot.evaluation.crossval import PipelineGrid, cross_validated_report, fusion_grid
from bot.evaluation.folds import assign_folds, cross_validate
from bot.evaluation.records import QuestionRecord, RankedHit
from bot.evaluation.replay import RankingConfig, question_metrics, ranked_chunks


def test_folds_are_balanced_stratified_and_seeded() -> None:
    strata = [i % 4 == 0 for i in range(40)]
    folds = assign_folds(40, 5, seed=3, strata=strata)
    assert sorted(np.bincount(folds)) == [8] * 5
    for fold in range(5):
        assert sum(s for s, f in zip(strata, folds, strict=True) if f == fold) == 2
    assert (folds == assign_folds(40, 5, seed=3, strata=strata)).all()
    assert not (folds == assign_folds(40, 5, seed=4, strata=strata)).all()
    with pytest.raises(ValueError):
        assign_folds(3, 5)
    with pytest.raises(ValueError):
        assign_folds(10, 1)


def test_cross_validation_scores_each_fold_with_what_the_others_chose() -> None:
    folds = np.array([0, 0, 1, 1])
    # Row 1 wins on fold 1's questions, row 0 on fold 0's: each fold gets the other's pick.
    objective = np.array([[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0]])
    cv = cross_validate(objective, folds)
    assert cv.chosen == [1, 0]
    assert cv.out_of_fold(objective).tolist() == [0.0, 0.0, 0.0, 0.0]
    # A row that is best everywhere is chosen for every fold; ties go to the first row.
    tied = np.array([[0.5, 0.5, 0.5, 0.5], [0.5, 0.5, 0.5, 0.5], [0.9, 0.9, 0.9, 0.9]])
    assert cross_validate(tied, folds).chosen == [2, 2]
    assert cross_validate(tied[:2], folds).chosen == [0, 0]


def test_bootstrap_interval_covers_the_mean_and_narrows_with_more_data() -> None:
    rng = np.random.default_rng(1)
    small = bootstrap_mean(rng.random(30))
    large = bootstrap_mean(rng.random(3000))
    assert small.low < small.mean < small.high
    assert (large.high - large.low) < (small.high - small.low)
    assert bootstrap_mean([0.2, 0.4]) == bootstrap_mean([0.2, 0.4])  # seeded
    assert str(bootstrap_mean([1.0, 1.0])) == "1.000 [1.000, 1.000]"


def test_paired_difference_sees_a_consistent_gain_that_separate_intervals_hide() -> None:
    rng = np.random.default_rng(2)
    base = rng.random(100)
    better = base + 0.02
    separate_a, separate_b = bootstrap_mean(better), bootstrap_mean(base)
    assert separate_a.low < separate_b.high  # the two intervals overlap
    paired = paired_difference(better, base)
    assert paired.mean == pytest.approx(0.02)
    assert paired.excludes_zero()
    assert not paired_difference(base, base[::-1]).excludes_zero()
    with pytest.raises(ValueError):
        paired_difference([1.0], [1.0, 2.0])


def hits(*ids: str) -> tuple[RankedHit, ...]:
    return tuple(RankedHit(f"kb:{i}#0", i, 10.0 - n) for n, i in enumerate(ids))


def record(
    qid: str, relevant: str, bm25: tuple[str, ...], dense: tuple[str, ...]
) -> QuestionRecord:
    rerank = {h.chunk_id: (1.0 if h.source_id == relevant else 0.1) for h in hits(*bm25, *dense)}
    return QuestionRecord(qid, (relevant,), hits(*bm25), hits(*dense), rerank)


def test_replay_follows_mode_fusion_and_rerank() -> None:
    rec = record("q", "b.md", ("a.md", "c.md"), ("b.md", "a.md"))
    assert ranked_chunks(rec, RankingConfig(mode="bm25"))[0] == "kb:a.md#0"
    assert ranked_chunks(rec, RankingConfig(mode="dense"))[0] == "kb:b.md#0"
    assert ranked_chunks(rec, RankingConfig())[0] == "kb:a.md#0"  # in both lists
    dense_heavy = RankingConfig(fusion="minmax", fusion_weight_bm25=0.1, fusion_weight_dense=0.9)
    assert ranked_chunks(rec, dense_heavy)[0] == "kb:b.md#0"
    assert ranked_chunks(rec, RankingConfig(rerank=True))[0] == "kb:b.md#0"
    scored = question_metrics(rec, ranked_chunks(rec, RankingConfig()))
    assert scored["hit_at_5"] == 1.0 and scored["mrr_at_10"] == 0.5


def test_report_tunes_out_of_fold_and_compares_pipelines() -> None:
    # BM25 lists hold the relevant article fourth, dense lists first and the distractor
    # second: equal weights put the distractor first, a dense-weighted fusion wins on every
    # fold, and hybrid then matches dense.
    records = [
        record(
            f"q{n}",
            f"r{n}.md",
            (f"x{n}.md", f"w{n}.md", f"v{n}.md", f"r{n}.md"),
            (f"r{n}.md", f"x{n}.md"),
        )
        for n in range(20)
    ]
    records.append(QuestionRecord("none", (), hits("z.md"), hits("z.md"), {}))
    shipped = RankingConfig()
    grids = [
        PipelineGrid("dense", [RankingConfig(mode="dense")]),
        PipelineGrid("hybrid", fusion_grid(shipped)),
    ]
    report = cross_validated_report(records, grids, folds=4)
    assert (report.answerable, report.unanswerable) == (20, 1)
    assert set(report.fold_of) == {r.id for r in records}
    hybrid = report.result("hybrid")
    assert hybrid.shipped == shipped
    assert hybrid.shipped_scores["mrr_at_10"].mean == pytest.approx(0.5)
    assert hybrid.out_of_fold["mrr_at_10"].mean == pytest.approx(1.0)
    assert shipped not in hybrid.chosen
    assert hybrid.gain_over_shipped.excludes_zero()
    assert report.compare("hybrid", "dense").mean == pytest.approx(0.0)
