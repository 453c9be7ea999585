"""The insights report: deflection, content gaps, thumbs-down answers, cited articles.

Declined questions are grouped by meaning, not spelling: each is embedded with the
service's embedder and joins the first group whose first question is at least
`similarity` (cosine) away; groups are listed biggest first, so the articles most worth
writing come first.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from bot.embedding.protocol import Embedder
from bot.insights.protocol import QuestionEvent
from bot.widget.feedback_store import FeedbackRecord

GROUP_SIMILARITY = 0.75
"""Cosine at or above which two declined questions count as the same gap (MiniLM scale)."""
MAX_GROUPED = 2000
"""Most recent declined questions embedded for grouping (bounds the report's cost)."""


@dataclass(frozen=True, slots=True)
class QuestionGroup:
    question: str
    """The group's most frequent wording."""
    count: int
    variants: list[str] = field(default_factory=list)
    """Other wordings seen, most frequent first (up to 5)."""


@dataclass(frozen=True, slots=True)
class ThumbsDown:
    question: str
    answer: str
    sources: list[str]
    comment: str | None
    at: str


@dataclass(frozen=True, slots=True)
class InsightsReport:
    kb: str
    since: float
    asked: int
    answered: int
    declined: int
    handoff_requested: int
    handed_off: int
    deflection_rate: float | None
    """answered / asked: the share of questions the bot answered without a person."""
    declined_questions: list[QuestionGroup]
    thumbs_down: list[ThumbsDown]
    cited_articles: list[tuple[str, int]]


def group_questions(
    questions: Sequence[str], embedder: Embedder, *, similarity: float = GROUP_SIMILARITY
) -> list[QuestionGroup]:
    """Near-duplicate questions merged (greedy, in order of frequency), biggest group first."""
    counts = Counter(q.strip() for q in questions[-MAX_GROUPED:] if q.strip())
    if not counts:
        return []
    distinct = [q for q, _ in counts.most_common()]
    vectors = np.asarray(embedder.embed_documents([q.lower() for q in distinct]))
    leaders: list[int] = []
    members: list[list[int]] = []
    for i in range(len(distinct)):
        if leaders:
            scores = vectors[leaders] @ vectors[i]
            best = int(np.argmax(scores))
            if scores[best] >= similarity:
                members[best].append(i)
                continue
        leaders.append(i)
        members.append([i])
    groups = [
        QuestionGroup(
            question=distinct[group[0]],
            count=sum(counts[distinct[i]] for i in group),
            variants=[distinct[i] for i in group[1:6]],
        )
        for group in members
    ]
    return sorted(groups, key=lambda g: -g.count)


def build_report(
    kb: str,
    since: float,
    events: Sequence[QuestionEvent],
    feedback: Sequence[FeedbackRecord],
    embedder: Embedder,
    *,
    top: int = 20,
) -> InsightsReport:
    outcomes = Counter(e.outcome for e in events)
    asked = len(events)
    cited = Counter(source for e in events for source in e.sources)
    declined = [e.question for e in events if e.outcome == "declined"]
    # Feedback votes come from the widget; `feedback` is already limited to `since`.
    return InsightsReport(
        kb=kb,
        since=since,
        asked=asked,
        answered=outcomes["answered"],
        declined=outcomes["declined"],
        handoff_requested=outcomes["handoff_requested"],
        handed_off=sum(e.handed_off for e in events),
        deflection_rate=round(outcomes["answered"] / asked, 4) if asked else None,
        declined_questions=group_questions(declined, embedder)[:top],
        thumbs_down=[
            ThumbsDown(f.question, f.answer, list(f.source_ids), f.comment, f.created_at)
            for f in reversed(feedback)
            if f.rating == "down"
        ][:top],
        cited_articles=cited.most_common(top),
    )
