"""POST /v1/search: ranked, citable chunks for a query."""

from __future__ import annotations

from fastapi import APIRouter

from bot.api.deps import PipelineDep
from bot.api.responses import BODY, KEYED, errors
from bot.api.schemas import SearchRequest, SearchResponse

router = APIRouter(prefix="/v1", tags=["search"], responses=KEYED)


@router.post(
    "/search",
    response_model=SearchResponse,
    responses={**BODY, **errors(404, 409, 503)},
    summary="Hybrid search with reranking",
)
async def search(body: SearchRequest, pipeline: PipelineDep) -> SearchResponse:
    outcome = await pipeline.search(
        body.kb, body.query, mode=body.mode, rerank=body.rerank, top_k=body.top_k
    )
    return SearchResponse.from_outcome(outcome)
