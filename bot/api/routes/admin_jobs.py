"""/admin/jobs: follow, list and cancel background jobs (included by the admin router)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from bot.api.admin_schemas import JOB_ID_PATTERN, JobOut
from bot.api.deps import ServicesDep
from bot.api.responses import errors
from bot.api.schemas import KB_PATTERN

router = APIRouter(prefix="/jobs", responses=errors(404))

JobIdPath = Annotated[str, Path(pattern=JOB_ID_PATTERN, description="As returned on submit.")]


@router.get("", response_model=list[JobOut], summary="Latest jobs, newest first")
async def list_jobs(
    services: ServicesDep,
    kb: Annotated[str | None, Query(pattern=KB_PATTERN)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[JobOut]:
    return [JobOut.from_state(job) for job in await services.jobs.list(kb=kb, limit=limit)]


@router.get("/{job_id}", response_model=JobOut, summary="State and progress of a job")
async def get_job(job_id: JobIdPath, services: ServicesDep) -> JobOut:
    return JobOut.from_state(await services.jobs.get(job_id))


@router.post(
    "/{job_id}/cancel",
    status_code=202,
    response_model=JobOut,
    summary="Cancel a queued or running job (a re-index keeps the old index)",
)
async def cancel_job(job_id: JobIdPath, services: ServicesDep) -> JobOut:
    return JobOut.from_state(await services.jobs.cancel(job_id))
