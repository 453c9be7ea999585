"""Score-normalising fusion (min-max, distribution-based) and blending reranker with fused order."""

from __future__ import annotations

import pytest

from bot.rerank.blend import blended_order, with_document_evidence
from bot.retrieval.fusion import contributions, fuse


def test_contributions_per_method() -> None:
    assert contributions([9.0, 5.0, 1.0], "rrf", k=10) == pytest.approx([1 / 11, 1 / 12, 1 / 13])
    assert contributions([9.0, 5.0, 1.0], "minmax") == pytest.approx([1.0, 0.5, 0.0])
    assert contributions([3.0, 3.0], "minmax") == [1.0, 1.0]
    dbsf = contributions([4.0, 2.0, 0.0], "dbsf")
    assert dbsf[1] == pytest.approx(0.5) and 0.5 < dbsf[0] < 1.0 and 0.0 < dbsf[2] < 0.5
    assert contributions([], "minmax") == []
    with pytest.raises(ValueError):
        contributions([1.0], "max")  # type: ignore[arg-type]


def test_score_fusion_keeps_how_far_apart_hits_are() -> None:
    # "a" leads BM25 by far, "b" leads dense by a hair: ranks tie, scores do not.
    bm25 = [("a", 20.0), ("b", 2.0), ("c", 1.0)]
    dense = [("b", 0.61), ("a", 0.60), ("c", 0.10)]
    assert fuse([bm25, dense], [1, 1], method="rrf", k=60)[0][0] == "a"  # tie → best rank, id
    assert [i for i, _ in fuse([bm25, dense], [1, 1], method="minmax")][:2] == ["a", "b"]
    assert fuse([bm25, dense], [0.1, 0.9], method="minmax")[0][0] == "a"
    fused = dict(fuse([bm25, dense], [0.4, 0.6], method="minmax"))
    assert fused["c"] == pytest.approx(0.0)
    assert fused["a"] == pytest.approx(0.4 + 0.6 * 0.5 / 0.51)


def test_fuse_refuses_mismatched_or_negative_weights() -> None:
    with pytest.raises(ValueError):
        fuse([[("a", 1.0)]], [1.0, 1.0])
    with pytest.raises(ValueError):
        fuse([[("a", 1.0)]], [-1.0])


def test_blend_weight_one_is_the_rerankers_order_and_lower_weights_pull_towards_fused() -> None:
    fused = [("a", 0.9), ("b", 0.8), ("c", 0.7), ("d", 0.6)]
    rerank = {"a": 0.1, "b": 0.2, "c": 0.3, "d": 0.9}
    assert blended_order(fused, rerank, weight=1.0) == ["d", "c", "b", "a"]
    assert blended_order(fused, rerank, weight=0.0) == ["a", "b", "c", "d"]
    # min-max: 0.6 · (1, .25, .125, 0) + 0.4 · (0, 1/3, 2/3, 1) for d, c, b, a
    assert blended_order(fused, rerank, weight=0.6, method="minmax") == ["d", "a", "b", "c"]
    # Reranker ties fall back to the fused score, then the id.
    assert blended_order(fused, dict.fromkeys("abcd", 0.5)) == ["a", "b", "c", "d"]
    with pytest.raises(ValueError):
        blended_order(fused, rerank, weight=1.5)


def test_document_evidence_lifts_an_article_with_a_second_good_passage() -> None:
    scores = {"a#0": 0.80, "a#1": 0.70, "b#0": 0.82, "c#0": 0.10}
    documents = {"a#0": "a", "a#1": "a", "b#0": "b", "c#0": "c"}
    assert with_document_evidence(scores, documents, 0.0) == scores
    lifted = with_document_evidence(scores, documents, 0.1)
    assert lifted["a#0"] == pytest.approx(0.87) and lifted["a#1"] == pytest.approx(0.78)
    assert lifted["b#0"] == pytest.approx(0.82) and lifted["c#0"] == pytest.approx(0.10)
    assert max(lifted, key=lifted.__getitem__) == "a#0"
