"""POST /v1/feedback: the widget's "was this helpful?" thumbs."""

from __future__ import annotations

from fastapi import APIRouter

from bot.api.deps import ServicesDep
from bot.api.edge_deps import EdgeDep
from bot.api.responses import BODY, KEYED, errors
from bot.api.widget_schemas import FeedbackRequest, FeedbackResponse
from bot.widget.feedback_store import FeedbackRecord

router = APIRouter(prefix="/v1", tags=["widget"], responses=KEYED)


@router.post(
    "/feedback",
    status_code=201,
    response_model=FeedbackResponse,
    responses={**BODY, **errors(404, 503)},
    summary="Record whether an answer was helpful",
)
async def feedback(body: FeedbackRequest, services: ServicesDep, edge: EdgeDep) -> FeedbackResponse:
    await services.backend.stats(body.kb)  # 404 for an unknown KB
    record = FeedbackRecord(
        kb=body.kb,
        rating=body.rating,
        question=body.question,
        answer=body.answer,
        conversation_id=body.conversation_id,
        source_ids=tuple(body.source_ids),
        comment=body.comment,
    )
    return FeedbackResponse(id=await edge.feedback.record(record))
