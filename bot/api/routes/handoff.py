"""POST /v1/handoff: "talk to a person" from the widget; the transcript goes to the
configured handoff webhook (see bot.helpdesk.handoff for the payload and signature)."""

from __future__ import annotations

from fastapi import APIRouter

from bot.api.deps import ServicesDep
from bot.api.edge_deps import EdgeDep
from bot.api.responses import BODY, KEYED, errors
from bot.api.widget_schemas import HandoffBody, HandoffResponse
from bot.errors import BackendUnavailable
from bot.generation.protocol import Turn
from bot.helpdesk.handoff import HANDOFF_TEXT, NO_CHANNEL_TEXT, HandoffRequest

router = APIRouter(prefix="/v1", tags=["widget"], responses=KEYED)


@router.post(
    "/handoff",
    response_model=HandoffResponse,
    responses={**BODY, **errors(404, 503)},
    summary="Hand the conversation to a person",
)
async def handoff(body: HandoffBody, services: ServicesDep, edge: EdgeDep) -> HandoffResponse:
    await services.backend.stats(body.kb)  # 404 for an unknown KB
    transcript = [Turn(role=t.role, content=t.content) for t in body.transcript]
    if body.conversation_id is not None:
        # The server's copy of the conversation, when it has one, is the one to trust.
        stored = await services.conversations.load(body.kb, body.conversation_id)
        transcript = stored or transcript
    result = await edge.handoff.notify(
        HandoffRequest(body.kb, body.reason, "widget", transcript, body.conversation_id)
    )
    if not result.configured:
        return HandoffResponse(id=result.id, status="not_configured", message=NO_CHANNEL_TEXT)
    if not result.delivered:
        raise BackendUnavailable(
            "the support team could not be reached just now; try again in a moment",
            retry_after_s=10,
        )
    return HandoffResponse(id=result.id, status="delivered", message=HANDOFF_TEXT)
