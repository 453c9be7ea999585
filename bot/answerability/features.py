"""The evidence an answerability model weighs, from one search's ranked chunks.

Each feature is relative to the knowledge base's own scores or vocabulary, so one fitted
model carries across help centers reasonably (and `supportbot calibrate` refits it):

- best_rerank: the top chunk's rerank score (how well the best passage matches at all);
- doc_margin: the best article's score minus the mean of the next three articles' best
  (an answer stands out; a question the KB does not answer matches many articles a bit);
- weak_token_share: share of the question's content tokens whose best match in the top
  chunk is weak (late interaction only): a passage that shares words but does not address
  the question's key phrase leaves some of its tokens unmatched;
- rare_weak_token_share: the same share, each token weighted by how rare its word is among
  the candidates (IDF over the candidate passages): an unmatched word that many candidates
  contain (the topic word every retrieved passage shares) says little, an unmatched word
  that none contains (a product or standard the help center never mentions) is what the
  question is about;
- unmatched_word_share: share of the question's content words that occur in none of the
  candidates (about: words the knowledge base does not know).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Collection, Sequence
from functools import lru_cache

from bot.domain import Candidate, Chunk, TokenMatch
from bot.retrieval.terms import query_terms

FEATURES = (
    "best_rerank",
    "doc_margin",
    "weak_token_share",
    "rare_weak_token_share",
    "unmatched_word_share",
)
"""Every feature an answerability model may use, in a fixed order."""
TOKEN_FEATURES = frozenset({"weak_token_share", "rare_weak_token_share"})
"""Those that need the reranker's per-token evidence."""

WEAK_TOKEN_MATCH = 0.6
"""A question token whose best cosine in the top chunk is below this counts as unmatched."""
RARE_WEAK_TOKEN_MATCH = 0.55
"""The same cut for rare_weak_token_share. Out of fold on the Zulip dev set (model with
doc_margin and the best-score floor, aiming at 3 % false declines, 10 fold seeds), cuts of
0.5 / 0.55 / 0.6 / 0.65 declined 11.7 / 13.6 / 11.3 / 9.3 of 30 unanswerable questions at
6.6 / 6.4 / 6.3 / 5.8 of 162 answerable; chosen on those questions, so a little optimistic."""

_WORD = re.compile(r"[^\W_]+")


def stem(word: str) -> str:
    """A crude stem ("notifications" and "notify" meet at "notif"): enough to ask whether
    a word occurs in a passage in some form."""
    return word[: max(4, len(word) - 3)] if len(word) > 4 else word


def passage_stems(candidate: Candidate) -> frozenset[str]:
    return _chunk_stems(candidate.chunk)


@lru_cache(maxsize=4096)
def _chunk_stems(chunk: Chunk) -> frozenset[str]:
    """Cached: every search scans its ~50 candidates (~40 µs a passage, a popular one
    comes back in many searches). Keyed by the chunk itself, whose field hashes the chunk
    cache's long-lived objects already hold, not by a heading-and-text string built per
    call; ~5 kB an entry (~45 distinct stems), so 4096 hold a 1 227-chunk help center
    whole (over the Zulip dev questions the former 1 024 missed 6.5 of a search's 50
    passages p50, 4 096 miss 1: those seen for the first time)."""
    return _text_stems(f"{chunk.heading_label} {chunk.text}")


def _text_stems(text: str) -> frozenset[str]:
    words = set(_WORD.findall(unicodedata.normalize("NFKC", text).casefold()))
    return frozenset([stem(word) for word in words])  # each distinct word stemmed once


def answerability_features(
    query: str,
    ranked: Sequence[Candidate],
    token_matches: Sequence[TokenMatch] | None,
    wanted: Collection[str] = FEATURES,
) -> dict[str, float]:
    """Features of a reranked result list (best first); `token_matches` are the best
    cosines of the question's content tokens in the top chunk, when the reranker has them.

    Features that cannot be computed (no rerank scores, no token vectors) are left out;
    so are those not `wanted` (a word scan over every candidate costs milliseconds).
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
        weak = sum(match.match < WEAK_TOKEN_MATCH for match in token_matches)
        features["weak_token_share"] = weak / len(token_matches)
        if "rare_weak_token_share" in wanted and ranked:
            weights = rarity_weights([match.word for match in token_matches], ranked)
            features["rare_weak_token_share"] = sum(
                weight
                for weight, match in zip(weights, token_matches, strict=True)
                if match.match < RARE_WEAK_TOKEN_MATCH
            ) / sum(weights)
    if "unmatched_word_share" not in wanted:
        return features
    words = list(dict.fromkeys(stem(term) for term in query_terms(query)))
    if words and ranked:
        seen = set().union(*(passage_stems(c) for c in ranked))
        features["unmatched_word_share"] = sum(w not in seen for w in words) / len(words)
    elif ranked:
        features["unmatched_word_share"] = 0.0
    return features


def rarity_weights(words: Sequence[str], ranked: Sequence[Candidate]) -> list[float]:
    """A weight per question token: its word's IDF among the candidate passages, shared
    equally by the word's tokens ("marmalade" is three word pieces, one word)."""
    stems = [stem(word) for word in words]
    if not all(stems):  # the reranker could not say which word a token belongs to
        return [1.0] * len(words)
    passages = [passage_stems(c) for c in ranked]
    pieces_per_word: dict[str, int] = {}
    for word_stem in stems:
        pieces_per_word[word_stem] = pieces_per_word.get(word_stem, 0) + 1
    idf = {
        word_stem: math.log((len(passages) + 1) / (sum(word_stem in p for p in passages) + 0.5))
        for word_stem in pieces_per_word
    }
    return [max(idf[s], 1e-6) / pieces_per_word[s] for s in stems]
