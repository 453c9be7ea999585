"""Reciprocal Rank Fusion: the formula, ranks kept per retriever, a deterministic order."""

from __future__ import annotations

import random

import pytest

from bot.domain import Candidate, Chunk, Hit
from bot.retrieval.fusion import reciprocal_rank_fusion


def hits(*source_ids: str) -> list[Hit]:
    """Hits ranked 1..n in the given order."""
    return [
        Hit(Chunk("kb", sid, 0, sid.title(), (), f"text of {sid}", None, "h"), 1.0 / rank, rank)
        for rank, sid in enumerate(source_ids, start=1)
    ]


def ids(candidates: list[Candidate]) -> list[str]:
    return [candidate.chunk.source_id for candidate in candidates]


def test_scores_follow_the_rrf_formula_and_keep_both_ranks() -> None:
    fused = reciprocal_rank_fusion(hits("a", "b", "c"), hits("c", "d"), k=10)
    by_id = {candidate.chunk.source_id: candidate for candidate in fused}
    assert by_id["c"].fused_score == pytest.approx(1 / 13 + 1 / 11)
    assert (by_id["c"].bm25_rank, by_id["c"].dense_rank) == (3, 1)
    assert (by_id["a"].bm25_rank, by_id["a"].dense_rank) == (1, None)
    assert (by_id["d"].bm25_rank, by_id["d"].dense_rank) == (None, 2)
    assert by_id["d"].fused_score == pytest.approx(1 / 12)
    assert ids(fused) == ["c", "a", "b", "d"]  # b and d tie: chunk id decides
    assert all(candidate.rerank_score is None for candidate in fused)


def test_agreement_beats_a_single_top_rank() -> None:
    fused = reciprocal_rank_fusion(hits("solo", "both"), hits("other", "both"))
    assert ids(fused)[0] == "both"


def test_weights_shift_the_balance() -> None:
    bm25, dense = hits("lexical", "x"), hits("semantic", "y")
    assert ids(reciprocal_rank_fusion(bm25, dense, weights=(2.0, 1.0)))[0] == "lexical"
    assert ids(reciprocal_rank_fusion(bm25, dense, weights=(1.0, 2.0)))[0] == "semantic"
    only_dense = reciprocal_rank_fusion(bm25, dense, weights=(0.0, 1.0))
    assert ids(only_dense)[:2] == ["semantic", "y"]


def test_ties_break_by_best_rank_then_chunk_id_whatever_the_input_order() -> None:
    # a and b tie on score and on best rank, so the chunk id decides; so do y and z.
    bm25 = hits("b", "z")
    dense = hits("a", "y")
    fused = reciprocal_rank_fusion(bm25, dense)
    assert ids(fused) == ["a", "b", "y", "z"]
    shuffled_bm25, shuffled_dense = bm25[:], dense[:]
    for _ in range(5):
        random.shuffle(shuffled_bm25)
        random.shuffle(shuffled_dense)
        assert ids(reciprocal_rank_fusion(shuffled_bm25, shuffled_dense)) == ids(fused)


def test_equal_scores_prefer_the_better_single_rank() -> None:
    # k=0: p (BM25 rank 1, weight 0.5) and s (dense rank 2, weight 1) both score 0.5.
    fused = reciprocal_rank_fusion(hits("p", "q"), hits("r", "s"), k=0, weights=(0.5, 1.0))
    by_id = {candidate.chunk.source_id: candidate for candidate in fused}
    assert by_id["p"].fused_score == pytest.approx(by_id["s"].fused_score)
    assert ids(fused) == ["r", "p", "s", "q"]


def test_duplicate_hits_keep_their_best_rank() -> None:
    bm25 = hits("a", "b", "a")
    fused = reciprocal_rank_fusion(bm25, [])
    assert ids(fused) == ["a", "b"]
    assert fused[0].bm25_rank == 1


def test_limit_and_empty_inputs() -> None:
    many = hits(*[f"d{i}" for i in range(20)])
    assert len(reciprocal_rank_fusion(many, many, limit=5)) == 5
    assert reciprocal_rank_fusion(many, [], limit=0) == []
    assert reciprocal_rank_fusion([], []) == []


def test_invalid_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="k"):
        reciprocal_rank_fusion(hits("a"), [], k=-1)
    with pytest.raises(ValueError, match="weights"):
        reciprocal_rank_fusion(hits("a"), [], weights=(-1.0, 1.0))
