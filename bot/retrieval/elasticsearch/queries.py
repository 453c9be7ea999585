"""Request bodies for the two retrievers (how they are sent and read: `hit_chunks`).

BM25 takes the same content words as the embedded backend (`bot.retrieval.terms.query_terms`:
question words and chat filler dropped, at most 32 distinct terms), so both engines
answer the same question from the same terms; the English analyzer then stems them
exactly as it stemmed the index. `combined_fields` never parses syntax (unlike
`query_string`), so no user string can make the query fail.

Both bodies ask for what the pipeline reads and no more: `track_total_hits: false` (no
one reads the count, and counting makes the node visit every match instead of only the
competitive ones), and the query vector as a NumPy array, which the client's orjson
serializer writes in one pass (`serializer.FastJsonSerializer`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bot.domain import Vector

MAX_RESULT_WINDOW = 10_000
NUM_CANDIDATES_FACTOR = 16
"""kNN candidates per hit asked for (see `knn_body`)."""
EXACT_FIELD_SHARE = 0.3
"""Weight of the unstemmed (standard-analyzed) subfields relative to the stemmed fields:
enough to prefer an exact word form on ties, too little to outvote the stemmed match."""


@dataclass(frozen=True, slots=True)
class Bm25Boosts:
    title: float = 3.0
    headings: float = 2.0
    body: float = 1.0

    def fields(self, suffix: str = "") -> list[str]:
        """Boosted field names, scaled so the smallest is 1 (combined_fields needs >= 1)."""
        weighted = [
            (n, b)
            for n, b in (("title", self.title), ("headings", self.headings), ("body", self.body))
            if b > 0
        ]
        if not weighted:
            raise ValueError("at least one BM25 field boost must be above 0")
        floor = min(boost for _, boost in weighted)
        return [f"{name}{suffix}^{boost / floor:g}" for name, boost in weighted]


def bm25_body(kb: str, terms: Sequence[str], top_n: int, boosts: Bm25Boosts) -> dict[str, Any]:
    """BM25F over title, headings and body, as SQLite FTS5 scores weighted columns.

    `combined_fields` scores the fields as one weighted field with one IDF per term.
    Per-field BM25 (`multi_match`) would not: a sparse field such as headings gets a tiny
    IDF there, so a heading match would rank below a body match.

    The KB restriction is a `post_filter`, not a `filter` clause: the top hits are the same
    (a filter never scores, and a post_filter keeps only its hits from what is collected),
    but a required filter turns Lucene's windowed scoring of the disjunction into a
    doc-at-a-time conjunction. On the 100k bench KB (one KB per index, so the filter
    matches every chunk) BM25 `took` fell 35 -> 25 ms p50 (load ~5) with identical lists
    (benchmarks/README.md, issue 13 fourth pass).
    """
    text = " ".join(terms)
    return {
        "size": min(top_n, MAX_RESULT_WINDOW),
        "track_total_hits": False,
        "query": {
            "bool": {
                "should": [
                    {"combined_fields": {"query": text, "fields": boosts.fields()}},
                    {
                        "combined_fields": {
                            "query": text,
                            "fields": boosts.fields(".std"),
                            "boost": EXACT_FIELD_SHARE,
                        }
                    },
                ],
                "minimum_should_match": 1,
            }
        },
        "post_filter": {"term": {"kb_id": kb}},
    }


def knn_body(kb: str, vector: Vector, top_n: int, num_candidates_factor: int) -> dict[str, Any]:
    """Approximate kNN on the int8 HNSW graph as a `knn` query, rescored with the raw floats.

    `rescore_vector` (Elasticsearch >= 8.18) re-ranks the oversampled quantised matches by
    exact cosine, so scores equal the true cosine and ranks the exact order within them.
    A `knn` query rather than the top-level `knn` section: the top-level form runs the graph
    search in a DFS round of its own before the query and fetch round, which cost the node
    ~2 ms of its 3 at help-center size (took 7 -> 4 ms on the merged 100k bench KB). The
    query form explores the graph less for the same candidates, so it asks 16 a hit (800
    for the top 50) where the top-level form asked 8: at help-center size the lists are the
    same as the top-level form's at 400 (192 of 192 dev questions, ids and scores; 400 in
    the query form lost a rank-7 chunk once), and on the merged 100k bench KB recall@50
    against exact cosine is 0.967 against 0.968 (benchmarks/README.md, issue 13).
    The vector goes as float64, so the request carries the same numbers a list of Python
    floats did.
    """
    k = min(top_n, MAX_RESULT_WINDOW)
    candidates = min(max(k * num_candidates_factor, k, 10), MAX_RESULT_WINDOW)
    return {
        "size": k,
        "track_total_hits": False,
        "query": {
            "knn": {
                "field": "embedding",
                "query_vector": np.ascontiguousarray(vector, dtype=np.float64),
                "k": k,
                "num_candidates": candidates,
                "filter": {"term": {"kb_id": kb}},
                "rescore_vector": {"oversample": 2.0},
            }
        },
    }
