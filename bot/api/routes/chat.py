"""POST /v1/chat (JSON) and /v1/chat/stream (Server-Sent Events)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from bot.answer import Answer, AnswerDelta, AnswerStart
from bot.api.deps import PipelineDep
from bot.api.errors import status_for
from bot.api.schemas import (
    ChatRequest,
    ChatResponse,
    CitationOut,
    ErrorResponse,
    SearchResponse,
)
from bot.errors import SupportbotError
from bot.generation.protocol import Turn

router = APIRouter(prefix="/v1", tags=["chat"])


def _history(body: ChatRequest) -> list[Turn]:
    return [Turn(role=t.role, content=t.content) for t in body.history]


@router.post(
    "/chat",
    response_model=ChatResponse,
    responses={404: {"model": ErrorResponse}, 503: {"model": ErrorResponse}},
    summary="Answer a question from the knowledge base, with citations",
)
async def chat(body: ChatRequest, pipeline: PipelineDep) -> ChatResponse:
    answer = await pipeline.answer(body.kb, body.message, _history(body))
    return ChatResponse.from_answer(answer)


def _sse(event: str, data: object) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


@router.post(
    "/chat/stream",
    summary="Answer as Server-Sent Events",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"text/event-stream": {}},
            "description": "Events: `start` (citations, search), `delta` ({text}) repeated, "
            "then `done` (the ChatResponse) or `error` ({code, message, status}).",
        }
    },
)
async def chat_stream(body: ChatRequest, pipeline: PipelineDep) -> StreamingResponse:
    # Validate the KB and run retrieval before the 200 goes out, so that errors such as an
    # unknown KB or a down backend get their proper status instead of an in-stream event.
    events = pipeline.answer_stream(body.kb, body.message, _history(body))
    first = await anext(events)

    async def stream() -> AsyncIterator[str]:
        event = first
        while True:
            if isinstance(event, AnswerStart):
                yield _sse(
                    "start",
                    {
                        "citations": [
                            CitationOut.from_citation(c).model_dump() for c in event.citations
                        ],
                        "search": SearchResponse.from_outcome(event.search).model_dump(
                            exclude={"results"}
                        ),
                    },
                )
            elif isinstance(event, AnswerDelta):
                yield _sse("delta", {"text": event.text})
            elif isinstance(event, Answer):
                yield _sse("done", ChatResponse.from_answer(event).model_dump())
                return
            try:
                event = await anext(events)
            except StopAsyncIteration:
                return
            except SupportbotError as exc:
                yield _sse(
                    "error", {"code": exc.code, "message": exc.message, "status": status_for(exc)}
                )
                return

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
