"""Wire schemas of the OpenAI-compatible endpoint, `POST /v1/chat/completions`.

`model` names the knowledge base. The last `user` message is the customer's question;
earlier `user`/`assistant` messages are the history, later ones are ignored. `system`,
`developer` and tool messages are accepted and ignored: the bot's own rules always apply.
Sampling options (temperature, top_p, ...) are accepted and ignored.

Beyond OpenAI's fields, responses carry:
- `citations`: the passages the answer may cite as [n] (number, title, url, source_id,
  heading_path); in streaming, on the first and the last chunk;
- `supportbot`: mode (llm | extractive | declined), cited numbers, answerable, handoff.
"""

from __future__ import annotations

import time
import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import JsonDict

from bot.api.schemas import (
    JSON_INT,
    KB_MAX_CHARS,
    KB_PATTERN,
    TURN_MAX_CHARS,
    VISIBLE_TEXT,
    CitationOut,
    QuestionText,
)
from bot.api.webhook_schemas import HandoffOut
from bot.errors import InvalidRequest
from bot.generation.protocol import Turn
from bot.helpdesk.turns import TurnOutcome

MAX_MESSAGES = 41
MAX_PARTS = 16
MAX_HISTORY_TURNS = 20


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)

    type: str = Field(max_length=64)
    text: str | None = Field(None, max_length=TURN_MAX_CHARS)


Parts = Annotated[list[ContentPart], Field(min_length=1, max_length=MAX_PARTS)]
TEXT_PART: JsonDict = {
    "type": "object",
    "properties": {"type": {"const": "text"}, "text": {"type": "string", "pattern": VISIBLE_TEXT}},
    "required": ["type", "text"],
}
QuestionParts = Annotated[
    list[ContentPart],
    Field(min_length=1, max_length=MAX_PARTS, json_schema_extra={"contains": TEXT_PART}),
]
"""Content parts with at least one text part (the question is their text, joined)."""


class UserMessage(BaseModel):
    """A question from the customer; the last one is the question to answer."""

    model_config = ConfigDict(extra="allow", strict=True)

    role: Literal["user"]
    content: QuestionText | QuestionParts


class AssistantInput(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)

    role: Literal["assistant"]
    content: Annotated[str, Field(max_length=TURN_MAX_CHARS)] | Parts | None = None


class InstructionMessage(BaseModel):
    """Accepted and ignored: the bot's own rules always apply."""

    model_config = ConfigDict(extra="allow", strict=True)

    role: Literal["system", "developer", "tool", "function"]
    content: str | list[ContentPart] | None = None


Message = Annotated[UserMessage | AssistantInput | InstructionMessage, Field(discriminator="role")]
HAS_USER_MESSAGE: JsonDict = {
    "type": "object",
    "properties": {"role": {"const": "user"}},
    "required": ["role"],
}


def message_text(content: str | list[ContentPart] | None) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "\n".join(p.text for p in content if p.type == "text" and p.text)


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)

    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)

    model: str = Field(
        pattern=KB_PATTERN,
        max_length=KB_MAX_CHARS,
        description="The knowledge base to answer from.",
    )
    messages: list[Message] = Field(
        min_length=1,
        max_length=MAX_MESSAGES,
        description="The conversation, oldest first, with at least one `user` message: the "
        "last one is the question; messages after it are ignored.",
        json_schema_extra={"contains": HAS_USER_MESSAGE},
    )
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: Annotated[int, Field(ge=1, le=1), JSON_INT] = Field(
        1, description="Only one choice is produced."
    )
    user: str | None = Field(None, max_length=128, description="Used as the conversation id.")

    def question_and_history(self) -> tuple[str, list[Turn]]:
        asked = [i for i, message in enumerate(self.messages) if message.role == "user"]
        if not asked:
            raise InvalidRequest("the conversation has no 'user' message (the customer's question)")
        question = message_text(self.messages[asked[-1]].content).strip()
        if not question:
            raise InvalidRequest("the last user message has no text")
        history: list[Turn] = []
        for message in self.messages[: asked[-1]]:
            text = message_text(message.content)
            if message.role in ("user", "assistant") and text.strip():
                history.append(Turn(role=message.role, content=text))
        return question, history[-MAX_HISTORY_TURNS:]


class SupportbotMeta(BaseModel):
    mode: Literal["llm", "extractive", "declined"]
    cited: list[int]
    answerable: bool
    answerable_score: float | None = Field(
        None, description="Estimated probability that the passages answer the question."
    )
    handoff_suggested: bool
    handoff: HandoffOut | None
    degraded: list[str]
    searched_query: str = Field(
        description="What retrieval searched: the last user message, or a follow-up "
        "rewritten to stand on its own."
    )

    @classmethod
    def from_outcome(cls, outcome: TurnOutcome) -> SupportbotMeta:
        answer = outcome.answer
        handoff = None
        if outcome.handoff_reason is not None:
            delivered = outcome.handoff is not None and outcome.handoff.delivered
            handoff = HandoffOut(reason=outcome.handoff_reason, delivered=delivered)
        return cls(
            mode=answer.mode,
            cited=answer.cited,
            answerable=answer.search.answerable,
            answerable_score=answer.search.answerable_score,
            handoff_suggested=answer.handoff_suggested,
            handoff=handoff,
            degraded=answer.degraded,
            searched_query=answer.search.query,
        )


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class Choice(BaseModel):
    index: int = 0
    message: AssistantMessage
    finish_reason: Literal["stop"] = "stop"


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int

    @classmethod
    def estimate(cls, question: str, answer: str) -> Usage:
        """Word counts: the pipeline does not report tokens (extractive mode has none)."""
        prompt, completion = len(question.split()), len(answer.split())
        return cls(
            prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion
        )


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: Usage
    citations: list[CitationOut]
    supportbot: SupportbotMeta


def completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


def now_s() -> int:
    return int(time.time())
