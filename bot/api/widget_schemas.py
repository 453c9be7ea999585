"""Wire schemas of the widget's own endpoints: feedback and handoff."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from bot.api.schemas import ID_MAX_CHARS, KB_MAX_CHARS, KB_PATTERN, ChatTurn, SourceId

CONVERSATION_ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,128}$"


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    kb: str = Field(pattern=KB_PATTERN, max_length=KB_MAX_CHARS)
    rating: Literal["up", "down"] = Field(description="Thumbs up or down.")
    question: str = Field(min_length=1, max_length=4000)
    answer: str = Field(min_length=1, max_length=8000)
    conversation_id: str | None = Field(
        None, pattern=CONVERSATION_ID_PATTERN, max_length=ID_MAX_CHARS
    )
    source_ids: list[SourceId] = Field(default_factory=list, max_length=20)
    comment: str | None = Field(None, max_length=2000)


class FeedbackResponse(BaseModel):
    id: str
    status: Literal["recorded"] = "recorded"


class HandoffBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    kb: str = Field(pattern=KB_PATTERN, max_length=KB_MAX_CHARS)
    conversation_id: str | None = Field(
        None, pattern=CONVERSATION_ID_PATTERN, max_length=ID_MAX_CHARS
    )
    reason: Literal["user_request", "no_answer"] = "user_request"
    transcript: list[ChatTurn] = Field(
        default_factory=list, max_length=50, description="The conversation so far, oldest first."
    )


class HandoffResponse(BaseModel):
    id: str
    status: Literal["delivered", "not_configured"]
    message: str = Field(description="What to tell the customer.")
