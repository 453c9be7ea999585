"""What the chat pipeline hands to its edges (API, CLI, webhooks)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from bot.domain import Candidate
from bot.generation.citations import Citation
from bot.retrieval.followup import QueryRewrite

AnswerMode = Literal["llm", "extractive", "declined"]


@dataclass(slots=True)
class SearchOutcome:
    """Final ranked chunks of one search, and how they were obtained."""

    kb: str
    query: str
    """What was searched and reranked: normalised, and for a chat follow-up, condensed."""
    mode: str
    results: list[Candidate]
    reranked: bool
    rerank_reason: str | None
    answerable: bool
    timings_ms: dict[str, float] = field(default_factory=dict)
    answerable_score: float | None = None
    """Probability the results answer the question (see bot.answerability); None when
    no calibration applies (e.g. reranking was skipped)."""
    answerability_features: dict[str, float] = field(default_factory=dict)


@dataclass(slots=True)
class AnswerStart:
    """First streamed event: the passages the answer will cite."""

    citations: list[Citation]
    search: SearchOutcome


@dataclass(slots=True)
class AnswerDelta:
    text: str


@dataclass(slots=True)
class Answer:
    """The complete answer; also the last streamed event."""

    text: str
    mode: AnswerMode
    citations: list[Citation]
    cited: list[int]
    search: SearchOutcome
    handoff_suggested: bool
    degraded: list[str] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)
    query_rewrite: QueryRewrite = "none"
    """Who turned the message into `search.query`: "none" (searched as typed), or the
    condenser that rewrote a follow-up as a standalone question."""


AnswerEvent = AnswerStart | AnswerDelta | Answer
