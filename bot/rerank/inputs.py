"""What a reranker reads for one chunk: one shared definition for every backend.

Title and heading path give a short chunk its context ("Billing › Refunds: ..."),
which both cross-encoders and hosted rerankers use. Whitespace is collapsed so
Markdown indentation does not spend the model's token budget.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

from bot.domain import Chunk

_WHITESPACE = re.compile(r"\s+")


def compact(text: str) -> str:
    """Collapse every run of whitespace (newlines included) to one space."""
    return _WHITESPACE.sub(" ", text).strip()


def rerank_text(chunk: Chunk) -> str:
    """`Title › Heading › Subheading: chunk text`, compacted.

    Depends only on `chunk.heading_label` and `chunk.text`, exactly what
    `Chunk.content_hash` covers, so cached scores keyed by that hash stay valid.
    """
    label = compact(chunk.heading_label)
    body = compact(chunk.text)
    if not label:
        return body
    if not body:
        return label
    return f"{label}: {body}"


def normalise_query(query: str) -> str:
    """NFKC, case-folded, whitespace-collapsed: trivially different queries share cache entries."""
    return compact(unicodedata.normalize("NFKC", query).casefold())


def query_digest(query: str) -> str:
    """sha256 of the normalised query; what score-cache keys use instead of the raw text."""
    return hashlib.sha256(normalise_query(query).encode("utf-8")).hexdigest()
