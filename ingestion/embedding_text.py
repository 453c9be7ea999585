"""The exact text a chunk is embedded (and late-interaction reranked) as.

The article title, then the article's gist (`Chunk.context`, absent on the chunk that
holds the lede), then the chunk: what the article is about, then what this part says.
Section headings are left out here (BM25 still searches them, rerankers reading text
still see them): in help centers they are often generic ("Desktop/Web", "Examples") or
repeat the title. Measured, document-level nDCG@10 of the late-interaction rerank on the
Zulip dev questions / the sample help center: label only 0.831 / 0.963, title only
0.846 / 0.982, label + gist 0.849 / 0.957, title + gist 0.882 / 0.928 (dense alone
0.743 / 0.931 → 0.775 / 0.951).
"""

from __future__ import annotations

from bot.domain import Chunk

EMBEDDING_TEXT_VERSION = 2
"""Bump when `text_for_embedding` changes: stored token vectors and cached late-interaction
scores are keyed by it, so old ones are not reused for the new text."""


def text_for_embedding(chunk: Chunk) -> str:
    """`"<title>\\n<gist>\\n\\n<chunk text>"`; token-vector rerankers use the same."""
    if chunk.context:
        return f"{chunk.title}\n{chunk.context}\n\n{chunk.text}"
    return f"{chunk.title}\n\n{chunk.text}"
