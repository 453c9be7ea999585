"""The exact text a chunk is embedded (and reranked) as: where it sits, then what it says."""

from __future__ import annotations

from bot.domain import Chunk


def text_for_embedding(chunk: Chunk) -> str:
    """`"Article › Section › Subsection\\n\\n<chunk text>"`; rerankers must use the same."""
    return f"{chunk.heading_label}\n\n{chunk.text}"
