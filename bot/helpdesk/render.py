"""Answers as plain text with their numbered sources, for ticket comments and callbacks."""

from __future__ import annotations

from bot.answer import Answer
from bot.generation.citations import Citation


def sources_block(citations: list[Citation], cited: list[int]) -> str:
    """`Sources:`, then `[n] Title › Section – URL` per cited passage (all if none is cited)."""
    chosen = [c for c in citations if c.number in cited] or list(citations)
    if not chosen:
        return ""
    lines = ["Sources:"]
    for citation in chosen:
        line = f"[{citation.number}] {citation.label}"
        if citation.url:
            line += f" – {citation.url}"
        lines.append(line)
    return "\n".join(lines)


def answer_with_sources(answer: Answer) -> str:
    sources = sources_block(answer.citations, answer.cited)
    return f"{answer.text.strip()}\n\n{sources}" if sources else answer.text.strip()


def best_rerank_score(answer: Answer) -> float | None:
    """The top passage's rerank score: our confidence measure (None when not reranked)."""
    if not answer.search.reranked or not answer.search.results:
        return None
    return answer.search.results[0].rerank_score
