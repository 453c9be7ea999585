"""GET /v1/kbs: the knowledge bases this bot can answer from."""

from __future__ import annotations

from fastapi import APIRouter

from bot.api.deps import ServicesDep
from bot.api.responses import KEYED, errors
from bot.api.schemas import KbInfo

router = APIRouter(prefix="/v1", tags=["knowledge bases"], responses=KEYED)


@router.get(
    "/kbs",
    response_model=list[KbInfo],
    responses=errors(503),
    summary="List knowledge bases",
)
async def list_kbs(services: ServicesDep) -> list[KbInfo]:
    infos = []
    for kb in await services.backend.list_kbs():
        stats = await services.backend.stats(kb)
        infos.append(
            KbInfo(
                kb=kb,
                documents=stats.documents,
                chunks=stats.chunks,
                embedding_model=stats.index.embedding_model if stats.index else None,
                last_indexed=stats.last_indexed,
            )
        )
    return infos
