"""Wire schemas: the only place request and response JSON shapes are defined."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from bot.answer import Answer, SearchOutcome
from bot.domain import Candidate
from bot.generation.citations import Citation

KB_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
CONVERSATION_ID_PATTERN = r"^[A-Za-z0-9_-]{8,128}$"
KB_MAX_CHARS = 63
ID_MAX_CHARS = 128
"""Also in the patterns; stated as `maxLength` so that body sizes can be bounded."""
TURN_MAX_CHARS = 8000
VISIBLE_TEXT = r"[^\s\x00-\x1f\x7f-\x9f]"
"""At least one character that is neither whitespace nor a control character."""

QuestionText = Annotated[
    str,
    Field(
        min_length=1,
        max_length=4000,
        pattern=VISIBLE_TEXT,
        description="The customer's question. Its longest length is SUPPORTBOT_MAX_QUERY_CHARS "
        "(the schema served by /openapi.json shows the configured value).",
        json_schema_extra={"x-max-length-setting": "max_query_chars"},
    ),
]
"""What the pipeline searches: longer than `max_query_chars`, or blank, it is refused."""


def _integral(value: object) -> object:
    """18.0 is an integer in JSON Schema; strict pydantic would refuse it."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


JSON_INT = BeforeValidator(_integral)
"""For integers in strict request models (3 and 3.0, never "3" or true), after the
constraints: `Annotated[int, Field(ge=1), JSON_INT]` keeps them in the JSON schema."""
SourceId = Annotated[str, Field(min_length=1, max_length=512, description="A document's path.")]


class ErrorBody(BaseModel):
    code: str = Field(description="Stable machine-readable error code.")
    message: str = Field(description="What went wrong and what to do about it.")


class ErrorResponse(BaseModel):
    error: ErrorBody


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    kb: str = Field(pattern=KB_PATTERN, max_length=KB_MAX_CHARS, description="Knowledge base name.")
    query: QuestionText
    top_k: Annotated[int, Field(ge=1, le=50), JSON_INT] | None = Field(
        None, description="Results to return (default 5)."
    )
    mode: Literal["bm25", "dense", "hybrid"] = "hybrid"
    rerank: bool = True


class SearchHit(BaseModel):
    chunk_id: str
    source_id: str
    title: str
    url: str | None
    heading_path: list[str] = Field(description="Section headings, outermost first.")
    heading_label: str = Field(description='"Article › Section › Subsection".')
    text: str
    bm25_rank: int | None
    dense_rank: int | None
    fused_score: float
    rerank_score: float | None

    @classmethod
    def from_candidate(cls, c: Candidate) -> SearchHit:
        chunk = c.chunk
        return cls(
            chunk_id=chunk.chunk_id,
            source_id=chunk.source_id,
            title=chunk.title,
            url=chunk.url,
            heading_path=list(chunk.heading_path),
            heading_label=chunk.heading_label,
            text=chunk.text,
            bm25_rank=c.bm25_rank,
            dense_rank=c.dense_rank,
            fused_score=round(c.fused_score, 6),
            rerank_score=None if c.rerank_score is None else round(c.rerank_score, 6),
        )


class SearchResponse(BaseModel):
    kb: str
    query: str = Field(
        description="The query as searched and reranked, whitespace-normalised; in chat, a "
        "follow-up rewritten to stand on its own (see ChatResponse.searched_query)."
    )
    mode: str
    reranked: bool
    rerank_reason: str | None = Field(description="Why reranking was not applied, if it wasn't.")
    answerable: bool = Field(description="False when no passage looks good enough to answer.")
    answerable_score: float | None = Field(
        None,
        description="Estimated probability (0-1) that the passages answer the question; "
        "below the calibration's threshold the bot declines. Null when no calibration "
        "applies (e.g. reranking was skipped). See /readyz for the calibration in force.",
    )
    results: list[SearchHit]
    timings: dict[str, float] = Field(description="Milliseconds per stage.")

    @classmethod
    def from_outcome(cls, o: SearchOutcome) -> SearchResponse:
        return cls(
            kb=o.kb,
            query=o.query,
            mode=o.mode,
            reranked=o.reranked,
            rerank_reason=o.rerank_reason,
            answerable=o.answerable,
            answerable_score=_rounded(o.answerable_score),
            results=[SearchHit.from_candidate(c) for c in o.results],
            timings=o.timings_ms,
        )


class ChatTurn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    role: Literal["user", "assistant"]
    content: str = Field(max_length=TURN_MAX_CHARS)


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    kb: str = Field(pattern=KB_PATTERN, max_length=KB_MAX_CHARS)
    message: QuestionText
    history: list[ChatTurn] = Field(default_factory=list, max_length=20)
    conversation_id: str | None = Field(
        None,
        pattern=CONVERSATION_ID_PATTERN,
        max_length=ID_MAX_CHARS,
        description="Let the server keep the history: earlier turns of this conversation "
        "(the latest ones, for a limited time) are used for follow-up questions, and this "
        "turn is added to them. A non-empty `history` sent with it is used instead of the "
        "server's copy for this turn (as the generic webhook does).",
    )


class CitationOut(BaseModel):
    number: int
    title: str
    url: str | None
    source_id: str
    heading_path: list[str]

    @classmethod
    def from_citation(cls, c: Citation) -> CitationOut:
        return cls(
            number=c.number,
            title=c.title,
            url=c.url,
            source_id=c.source_id,
            heading_path=list(c.heading_path),
        )


class HandoffOut(BaseModel):
    reason: str
    delivered: bool = Field(description="Whether the handoff webhook accepted the transcript.")


class ChatResponse(BaseModel):
    answer: str
    mode: Literal["llm", "extractive", "declined"] = Field(
        description="`extractive`: quoted passages (no LLM); `declined`: no answer found."
    )
    citations: list[CitationOut]
    cited: list[int] = Field(description="Citation numbers the answer text refers to.")
    reranked: bool
    answerable: bool
    answerable_score: float | None = Field(
        None,
        description="Estimated probability (0-1) that the passages answer the question; "
        "below the calibration's threshold the bot declines. Null when no calibration "
        "applies (e.g. reranking was skipped). See /readyz for the calibration in force.",
    )
    handoff_suggested: bool
    degraded: list[str] = Field(description="What did not work and was worked around.")
    searched_query: str = Field(
        description="What retrieval searched: the message as typed, or for a follow-up "
        '("and on my phone?") the message rewritten to stand on its own.'
    )
    query_rewrite: Literal["none", "heuristic", "llm"] = Field(
        description="Who wrote `searched_query`: `none` (the message as typed), `heuristic` "
        "(the earlier question + the message) or `llm` (the language model's rewrite)."
    )
    timings: dict[str, float]
    conversation_id: str | None = Field(None, description="Echoed when the request sent one.")
    handoff: HandoffOut | None = Field(
        None, description="Set when this turn was handed to a person (declined, or asked for)."
    )

    @classmethod
    def from_answer(cls, a: Answer) -> ChatResponse:
        return cls(
            answer=a.text,
            mode=a.mode,
            citations=[CitationOut.from_citation(c) for c in a.citations],
            cited=a.cited,
            reranked=a.search.reranked,
            answerable=a.search.answerable,
            answerable_score=_rounded(a.search.answerable_score),
            handoff_suggested=a.handoff_suggested,
            degraded=a.degraded,
            searched_query=a.search.query,
            query_rewrite=a.query_rewrite,
            timings=a.timings_ms,
        )


class KbInfo(BaseModel):
    kb: str
    documents: int
    chunks: int
    embedding_model: str | None
    last_indexed: str | None


def _rounded(score: float | None) -> float | None:
    return None if score is None else round(score, 4)
