"""Answerability features from hand-made result lists: what each one measures."""

from __future__ import annotations

import math

import pytest

from bot.answerability.features import (
    answerability_features,
    passage_stems,
    rarity_weights,
    stem,
)
from bot.domain import Candidate, Chunk, TokenMatch


def candidate(text: str, source: str, score: float) -> Candidate:
    chunk = Chunk(
        kb="test",
        source_id=source,
        ordinal=0,
        title=source,
        heading_path=(),
        text=text,
        url=None,
        doc_hash="d" * 64,
    )
    return Candidate(chunk=chunk, fused_score=score, rerank_score=score)


RANKED = [
    candidate("Reset your password from the login page.", "password.md", 0.7),
    candidate("Admins can reset a user's password.", "admin.md", 0.6),
    candidate("Reset notification settings to their defaults.", "notifications.md", 0.5),
    candidate("Reset your API key if it leaks.", "api.md", 0.45),
]


def test_an_unmatched_word_no_candidate_contains_weighs_more_than_a_common_one() -> None:
    # Same token evidence; only which word is unmatched differs.
    rare_unmatched = [TokenMatch("reset", 0.9), TokenMatch("telescope", 0.3)]
    common_unmatched = [TokenMatch("reset", 0.3), TokenMatch("telescope", 0.9)]
    rare = answerability_features("reset telescope", RANKED, rare_unmatched)
    common = answerability_features("reset telescope", RANKED, common_unmatched)
    assert rare["weak_token_share"] == common["weak_token_share"] == 0.5
    # IDF over 4 candidates: "reset" is in all of them, "telescope" in none.
    idf_reset, idf_telescope = math.log(5 / 4.5), math.log(5 / 0.5)
    assert rare["rare_weak_token_share"] == pytest.approx(
        idf_telescope / (idf_reset + idf_telescope)
    )
    assert common["rare_weak_token_share"] == pytest.approx(idf_reset / (idf_reset + idf_telescope))
    assert rare["rare_weak_token_share"] > 0.9 > 0.1 > common["rare_weak_token_share"]


def test_a_word_of_several_tokens_counts_once() -> None:
    pieces = [TokenMatch("marmalade", 0.4)] * 4 + [TokenMatch("password", 0.9)]
    weights = rarity_weights([m.word for m in pieces], RANKED)
    assert sum(weights[:4]) == pytest.approx(math.log(5 / 0.5))
    assert weights[4] == pytest.approx(math.log(5 / 2.5))  # "password" in two candidates


def test_without_words_every_token_weighs_the_same() -> None:
    matches = [TokenMatch("", 0.9), TokenMatch("", 0.3), TokenMatch("", 0.2)]
    features = answerability_features("anything", RANKED, matches)
    assert features["rare_weak_token_share"] == pytest.approx(features["weak_token_share"])


def test_only_wanted_word_scans_run_and_no_token_evidence_leaves_token_features_out() -> None:
    matches = [TokenMatch("reset", 0.9)]
    lean = answerability_features("reset", RANKED, matches, wanted=("doc_margin",))
    assert "rare_weak_token_share" not in lean and "unmatched_word_share" not in lean
    assert lean["doc_margin"] == pytest.approx(0.7 - (0.6 + 0.5 + 0.45) / 3)
    without_tokens = answerability_features("reset", RANKED, None)
    assert "weak_token_share" not in without_tokens
    assert "rare_weak_token_share" not in without_tokens
    assert without_tokens["unmatched_word_share"] == 0.0


def test_passage_stems_cover_heading_and_text_and_follow_the_chunks_content() -> None:
    def stems(text: str) -> set[str]:
        return {stem(word) for word in text.split()}

    first = candidate("Ｎotifications arrive by EMAIL.", "settings.md", 0.5)  # fullwidth Ｎ
    assert passage_stems(first) == stems("settings md notifications arrive by email")
    # The same chunk id with new text (a re-index) is not served the old words.
    edited = candidate("Mute a channel.", "settings.md", 0.5)
    assert passage_stems(edited) == stems("settings md mute a channel")
    again = candidate("Ｎotifications arrive by EMAIL.", "settings.md", 0.1)
    assert passage_stems(again) == passage_stems(first)
