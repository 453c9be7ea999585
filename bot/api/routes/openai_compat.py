"""POST /v1/chat/completions: the bot behind OpenAI's chat API, `model` naming the KB.

Existing OpenAI clients and chat UIs work unchanged (JSON, or `stream: true` for
`chat.completion.chunk` Server-Sent Events ending in `data: [DONE]`). Citations travel in
the extra `citations` field; see bot.api.openai_schemas for the contract.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from bot.answer import AnswerDelta, AnswerStart
from bot.api.edge_deps import EdgeDep
from bot.api.errors import status_for
from bot.api.openai_schemas import (
    AssistantMessage,
    ChatCompletion,
    ChatCompletionRequest,
    Choice,
    SupportbotMeta,
    Usage,
    completion_id,
    now_s,
)
from bot.api.responses import BODY, KEYED, errors
from bot.api.schemas import CitationOut
from bot.errors import SupportbotError
from bot.generation.citations import Citation
from bot.helpdesk.turns import TurnEvent, TurnOutcome

router = APIRouter(prefix="/v1", tags=["OpenAI-compatible"], responses=KEYED)


@router.post(
    "/chat/completions",
    response_model=ChatCompletion,
    responses={
        200: {"content": {"text/event-stream": {}}},
        **BODY,
        **errors(404, 409, 503),
    },
    summary="OpenAI-compatible chat completions; `model` is the knowledge base",
)
async def chat_completions(
    body: ChatCompletionRequest, edge: EdgeDep
) -> ChatCompletion | StreamingResponse:
    question, history = body.question_and_history()
    events = edge.turns.stream(
        body.model, question, history, conversation_id=body.user, source="openai"
    )
    if not body.stream:
        outcome: TurnOutcome | None = None
        async for event in events:
            if isinstance(event, TurnOutcome):
                outcome = event
        assert outcome is not None
        return ChatCompletion(
            id=completion_id(),
            created=now_s(),
            model=body.model,
            choices=[Choice(message=AssistantMessage(content=outcome.answer.text))],
            usage=Usage.estimate(question, outcome.answer.text),
            citations=_citations(outcome.answer.citations),
            supportbot=SupportbotMeta.from_outcome(outcome),
        )
    first = await anext(events)  # unknown KB or a down backend answers with a status, not a 200
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    return StreamingResponse(
        _stream(first, events, body.model, question, include_usage),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _stream(
    first: TurnEvent,
    events: AsyncIterator[TurnEvent],
    model: str,
    question: str,
    include_usage: bool,
) -> AsyncIterator[str]:
    chunk_id, created = completion_id(), now_s()

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        payload = {
            "id": chunk_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            **extra,
        }
        return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"

    event: TurnEvent = first
    while True:
        if isinstance(event, AnswerStart):
            citations = [c.model_dump() for c in _citations(event.citations)]
            yield chunk({"role": "assistant", "content": ""}, citations=citations)
        elif isinstance(event, AnswerDelta):
            yield chunk({"content": event.text})
        elif isinstance(event, TurnOutcome):
            answer = event.answer
            yield chunk(
                {},
                "stop",
                citations=[c.model_dump() for c in _citations(answer.citations)],
                supportbot=SupportbotMeta.from_outcome(event).model_dump(),
            )
            if include_usage:
                usage = Usage.estimate(question, answer.text).model_dump()
                payload = {
                    "id": chunk_id,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": model,
                    "choices": [],
                    "usage": usage,
                }
                yield f"data: {json.dumps(payload)}\n\n"
            yield "data: [DONE]\n\n"
            return
        try:
            event = await anext(events)
        except StopAsyncIteration:
            return
        except SupportbotError as exc:
            error = {"code": exc.code, "message": exc.message, "status": status_for(exc)}
            yield f"data: {json.dumps({'error': error})}\n\n"
            return


def _citations(citations: list[Citation]) -> list[CitationOut]:
    return [CitationOut.from_citation(c) for c in citations]
