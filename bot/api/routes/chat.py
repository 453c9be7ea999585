"""POST /v1/chat (JSON) and /v1/chat/stream (Server-Sent Events)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from bot.answer import Answer, AnswerDelta, AnswerStart
from bot.api.deps import ServicesDep
from bot.api.errors import status_for
from bot.api.responses import BODY, KEYED, errors
from bot.api.schemas import (
    ChatRequest,
    ChatResponse,
    CitationOut,
    HandoffOut,
    SearchResponse,
)
from bot.errors import SupportbotError
from bot.generation.protocol import Turn
from bot.helpdesk.turns import TurnOutcome
from bot.services import Services

router = APIRouter(prefix="/v1", tags=["chat"], responses=KEYED)


def _history(body: ChatRequest) -> list[Turn]:
    return [Turn(role=t.role, content=t.content) for t in body.history]


HISTORY_UNAVAILABLE = "conversation history unavailable (store unreachable); answered without it"


async def _load_history(body: ChatRequest, services: Services) -> tuple[list[Turn], list[str]]:
    """The request's own history, or else the stored one for `conversation_id`."""
    if body.conversation_id is None or body.history:
        return _history(body), []
    stored = await services.conversations.load(body.kb, body.conversation_id)
    return (stored, []) if stored is not None else ([], [HISTORY_UNAVAILABLE])


async def _remember(body: ChatRequest, services: Services, answer: Answer) -> list[str]:
    if body.conversation_id is None:
        return []
    turns = [Turn("user", body.message), Turn("assistant", answer.text)]
    if await services.conversations.append(body.kb, body.conversation_id, turns):
        return []
    return ["this turn was not saved to the conversation history (store unreachable)"]


def _response(outcome: TurnOutcome, body: ChatRequest, notes: list[str]) -> ChatResponse:
    response = ChatResponse.from_answer(outcome.answer)
    response.degraded.extend(note for note in notes if note not in response.degraded)
    response.conversation_id = body.conversation_id
    if outcome.handoff_reason is not None:
        response.handoff = HandoffOut(
            reason=str(outcome.handoff_reason),
            delivered=bool(outcome.handoff and outcome.handoff.delivered),
        )
    return response


@router.post(
    "/chat",
    response_model=ChatResponse,
    responses={**BODY, **errors(404, 409, 503)},
    summary="Answer a question from the knowledge base, with citations",
)
async def chat(body: ChatRequest, services: ServicesDep) -> ChatResponse:
    history, notes = await _load_history(body, services)
    outcome = await services.edge.turns.take(
        body.kb, body.message, history, conversation_id=body.conversation_id, source="api"
    )
    notes += await _remember(body, services, outcome.answer)
    return _response(outcome, body, notes)


def _sse(event: str, data: object) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


@router.post(
    "/chat/stream",
    summary="Answer as Server-Sent Events",
    response_class=StreamingResponse,
    responses={
        **BODY,
        **errors(404, 409, 503),
        200: {
            "content": {"text/event-stream": {}},
            "description": "Events: `start` (citations, search), `delta` ({text}) repeated, "
            "then `done` (the ChatResponse) or `error` ({code, message, status}).",
        },
    },
)
async def chat_stream(body: ChatRequest, services: ServicesDep) -> StreamingResponse:
    # Validate the KB and run retrieval before the 200 goes out, so that errors such as an
    # unknown KB or a down backend get their proper status instead of an in-stream event.
    history, notes = await _load_history(body, services)
    events = services.edge.turns.stream(
        body.kb, body.message, history, conversation_id=body.conversation_id, source="widget"
    )
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
            elif isinstance(event, TurnOutcome):
                notes.extend(await _remember(body, services, event.answer))
                yield _sse("done", _response(event, body, notes).model_dump())
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
