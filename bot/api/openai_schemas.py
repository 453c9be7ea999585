"""Wire schemas of the OpenAI-compatible endpoint, `POST /v1/chat/completions`.

`model` names the knowledge base. The last message must be the customer's (`user`);
earlier `user`/`assistant` messages are the history. `system` and `developer` messages are
accepted and ignored: the bot's own rules always apply. Sampling options (temperature,
top_p, ...) are accepted and ignored.

Beyond OpenAI's fields, responses carry:
- `citations`: the passages the answer may cite as [n] (number, title, url, source_id,
  heading_path); in streaming, on the first and the last chunk;
- `supportbot`: mode (llm | extractive | declined), cited numbers, answerable, handoff.
"""

from __future__ import annotations

import time
import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from bot.api.schemas import KB_PATTERN, CitationOut
from bot.api.webhook_schemas import HandoffOut
from bot.errors import InvalidRequest
from bot.generation.protocol import Turn
from bot.helpdesk.turns import TurnOutcome

MAX_MESSAGES = 41
MAX_QUESTION_CHARS = 4000
MAX_TURN_CHARS = 8000
MAX_HISTORY_TURNS = 20


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: str
    text: str | None = None


class Message(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[ContentPart] | None = None

    def text(self) -> str:
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "\n".join(p.text for p in self.content if p.type == "text" and p.text)


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")

    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str = Field(pattern=KB_PATTERN, description="The knowledge base to answer from.")
    messages: list[Message] = Field(min_length=1, max_length=MAX_MESSAGES)
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: int = Field(1, ge=1, le=1, description="Only one choice is produced.")
    user: str | None = Field(None, max_length=128, description="Used as the conversation id.")

    def question_and_history(self) -> tuple[str, list[Turn]]:
        last = self.messages[-1]
        if last.role != "user":
            raise InvalidRequest("the last message must have role 'user' (the customer's question)")
        question = last.text().strip()
        if not question:
            raise InvalidRequest("the last user message has no text")
        if len(question) > MAX_QUESTION_CHARS:
            raise InvalidRequest(
                f"the question is {len(question)} characters; the limit is {MAX_QUESTION_CHARS}"
            )
        history: list[Turn] = []
        for message in self.messages[:-1]:
            if message.role in ("user", "assistant"):
                text = message.text()
                if len(text) > MAX_TURN_CHARS:
                    raise InvalidRequest(f"a history message is over {MAX_TURN_CHARS} characters")
                if text.strip():
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
