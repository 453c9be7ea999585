"""The evidence an answerability model weighs, from one search's ranked chunks.

Each feature is relative to the knowledge base's own scores or vocabulary, so one fitted
model carries across help centers reasonably (and `supportbot calibrate` refits it):

- best_rerank: the top chunk's rerank score (how well the best passage matches at all);
- doc_margin: the best article's score minus the mean of the next three articles' best
  (an answer stands out; a question the KB does not answer matches many articles a bit);
- weak_token_share: share of the question's content tokens whose best match in the top
  chunk is weak (late interaction only): a passage that shares words but does not address
  the question's key phrase leaves some of its tokens unmatched;
- unmatched_word_share: share of the question's content words that occur in none of the
  candidates (about: words the knowledge base does not know).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Sequence

from bot.domain import Candidate
from bot.retrieval.terms import query_terms

FEATURES = ("best_rerank", "doc_margin", "weak_token_share", "unmatched_word_share")
"""Every feature an answerability model may use, in a fixed order."""

WEAK_TOKEN_MATCH = 0.6
"""A question token whose best cosine in the top chunk is below this counts as unmatched."""

_WORD = re.compile(r"[^\W_]+")


def stem(word: str) -> str:
    """A crude stem ("notifications" and "notify" meet at "notif"): enough to ask whether
    a word occurs in a passage in some form."""
    return word[: max(4, len(word) - 3)] if len(word) > 4 else word


def passage_stems(candidate: Candidate) -> set[str]:
    chunk = candidate.chunk
    text = unicodedata.normalize("NFKC", f"{chunk.heading_label} {chunk.text}").casefold()
    return {stem(word) for word in _WORD.findall(text)}


def answerability_features(
    query: str,
    ranked: Sequence[Candidate],
    token_matches: Sequence[float] | None,
    wanted: Collection[str] = FEATURES,
) -> dict[str, float]:
    """Features of a reranked result list (best first); `token_matches` are the best
    cosines of the question's content tokens in the top chunk, when the reranker has them.

    Features that cannot be computed (no rerank scores, no token vectors) are left out;
    so are those not `wanted` (the word scan over every candidate costs milliseconds).
    """
    features: dict[str, float] = {}
    scores = [c.rerank_score for c in ranked]
    if ranked and all(score is not None for score in scores):
        best_per_doc: dict[str, float] = {}
        for candidate in ranked:
            assert candidate.rerank_score is not None
            best_per_doc.setdefault(candidate.chunk.source_id, candidate.rerank_score)
        by_doc = sorted(best_per_doc.values(), reverse=True)
        runners_up = by_doc[1:4] or [0.0]
        features["best_rerank"] = by_doc[0]
        features["doc_margin"] = by_doc[0] - sum(runners_up) / len(runners_up)
    if token_matches:
        weak = sum(match < WEAK_TOKEN_MATCH for match in token_matches)
        features["weak_token_share"] = weak / len(token_matches)
    if "unmatched_word_share" not in wanted:
        return features
    words = list(dict.fromkeys(stem(term) for term in query_terms(query)))
    if words and ranked:
        seen = set().union(*(passage_stems(c) for c in ranked))
        features["unmatched_word_share"] = sum(w not in seen for w in words) / len(words)
    elif ranked:
        features["unmatched_word_share"] = 0.0
    return features
