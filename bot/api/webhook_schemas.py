"""Wire schemas of the helpdesk webhooks: Zendesk's acknowledgement and the generic contract.

Generic contract, `POST /v1/webhooks/generic`:

    headers  X-Supportbot-Integration: <client name>
             X-Supportbot-Timestamp: <Unix seconds>
             X-Supportbot-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>
    body     {"question": "...", "conversation_id": "...", "callback_url": null | "https://...",
              "history": [{"role": "user"|"assistant", "content": "..."}], "event_id": null | "..."}

Without `callback_url` the answer (GenericResult) is the 200 response. With it, the
response is 202 and GenericResult is POSTed to the callback URL, signed the same way.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from bot.api.schemas import ID_MAX_CHARS, ChatTurn, CitationOut, QuestionText
from bot.api.widget_schemas import CONVERSATION_ID_PATTERN
from bot.helpdesk.turns import TurnOutcome


class GenericRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    question: QuestionText
    conversation_id: str = Field(pattern=CONVERSATION_ID_PATTERN, max_length=ID_MAX_CHARS)
    callback_url: str | None = Field(
        None, max_length=2000, description="Answer later, by a signed POST to this URL."
    )
    history: list[ChatTurn] = Field(default_factory=list, max_length=20)
    event_id: str | None = Field(
        None,
        pattern=CONVERSATION_ID_PATTERN,
        max_length=ID_MAX_CHARS,
        description="Deliveries with one id run once.",
    )


class HandoffOut(BaseModel):
    reason: Literal["user_request", "no_answer"]
    delivered: bool


class GenericResult(BaseModel):
    conversation_id: str
    event_id: str | None
    answer: str
    mode: Literal["llm", "extractive", "declined"]
    citations: list[CitationOut]
    cited: list[int]
    answerable: bool
    handoff: HandoffOut | None = Field(description="Set when the conversation went to a person.")

    @classmethod
    def from_outcome(
        cls, outcome: TurnOutcome, conversation_id: str, event_id: str | None
    ) -> GenericResult:
        answer = outcome.answer
        handoff = None
        if outcome.handoff_reason is not None:
            delivered = outcome.handoff is not None and outcome.handoff.delivered
            handoff = HandoffOut(reason=outcome.handoff_reason, delivered=delivered)
        return cls(
            conversation_id=conversation_id,
            event_id=event_id,
            answer=answer.text,
            mode=answer.mode,
            citations=[CitationOut.from_citation(c) for c in answer.citations],
            cited=answer.cited,
            answerable=answer.search.answerable,
            handoff=handoff,
        )


class Accepted(BaseModel):
    status: Literal["accepted", "duplicate", "ignored", "posted"]
    detail: str | None = None
    ticket_id: int | None = None
    public: bool | None = Field(None, description="Zendesk: posted as a public reply.")
