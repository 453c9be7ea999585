"""Evaluation metrics on hand-computed rankings."""

from __future__ import annotations

import math

import pytest

from bot.evaluation import metrics


def test_labels_with_folders_match_source_ids() -> None:
    assert metrics.matches("help/printing-messages.md", "printing-messages.md")
    assert metrics.matches("account/reset.md", "account/reset.md")
    assert not metrics.matches("help/printing-messages.md", "messages.md")
    assert not metrics.matches("help/a.md", "b.md")


def test_document_ranking_counts_each_document_once() -> None:
    assert metrics.document_ranking(["a", "b", "a", "c", "b"]) == ["a", "b", "c"]


def test_metrics_on_a_known_ranking() -> None:
    ranking = ["x.md", "a.md", "y.md", "b.md", "z.md", "w.md"]
    flags = metrics.relevant_flags(ranking, ["help/a.md", "help/b.md"])
    assert flags == [False, True, False, True, False, False]
    assert metrics.hit_at(flags, 5) == 1.0
    assert metrics.hit_at(flags, 1) == 0.0
    assert metrics.precision_at(flags, 5) == pytest.approx(0.4)
    assert metrics.recall_at(flags, 10, 2) == 1.0
    assert metrics.recall_at(flags, 2, 2) == 0.5
    assert metrics.mrr_at(flags, 10) == 0.5
    dcg = 1 / math.log2(3) + 1 / math.log2(5)
    ideal = 1 / math.log2(2) + 1 / math.log2(3)
    assert metrics.ndcg_at(flags, 10, 2) == pytest.approx(dcg / ideal)


def test_empty_cases_score_zero() -> None:
    assert metrics.mrr_at([], 10) == 0.0
    assert metrics.ndcg_at([False] * 5, 10, 1) == 0.0
    assert metrics.percentile([], 50) == 0.0
    assert metrics.percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert metrics.percentile([1.0, 2.0, 3.0, 4.0], 95) == 4.0
