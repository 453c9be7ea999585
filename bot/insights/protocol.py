"""The insights store role: one record per chat turn, kept for a retention period.

    QuestionEvent ──record──▶ InsightsStore ──events(kb, since)──▶ report (bot.insights.report)

Two implementations share this protocol and one contract test: `SqliteInsightsStore`
(a file in the data dir, the default) and `RedisInsightsStore` (when Redis is set, so
every API process sees the same numbers). No customer identity is stored: no
conversation id, key, address or name; only the question as typed, capped in length.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Literal, Protocol

TurnOutcomeKind = Literal["answered", "declined", "handoff_requested"]
MAX_QUESTION_CHARS = 500


@dataclass(frozen=True, slots=True)
class QuestionEvent:
    kb: str
    at: float
    """Unix time of the answer."""
    question: str
    outcome: TurnOutcomeKind
    handed_off: bool = False
    """A person was reached (handoff webhook delivered, or a helpdesk ticket)."""
    sources: tuple[str, ...] = ()
    """Source ids of the articles the answer cited."""
    id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def to_json(self) -> str:
        return json.dumps(
            {
                "id": self.id,
                "kb": self.kb,
                "at": self.at,
                "question": self.question,
                "outcome": self.outcome,
                "handed_off": self.handed_off,
                "sources": list(self.sources),
            },
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> QuestionEvent:
        raw = json.loads(text)
        return cls(
            kb=str(raw["kb"]),
            at=float(raw["at"]),
            question=str(raw["question"]),
            outcome=raw["outcome"],
            handed_off=bool(raw.get("handed_off", False)),
            sources=tuple(str(s) for s in raw.get("sources", ())),
            id=str(raw["id"]),
        )


class InsightsStore(Protocol):
    name: str

    async def record(self, event: QuestionEvent) -> None:
        """Keep `event` until the retention period has passed."""
        ...

    async def events(self, kb: str, since: float) -> list[QuestionEvent]:
        """Events of `kb` at or after `since` (and within retention), oldest first.

        Raise BackendUnavailable when the store cannot be read."""
        ...

    async def close(self) -> None: ...
