"""NoSharedJobRunner: the job runner of API workers that have no shared one to use.

With several API worker processes and no Celery broker, an in-process runner per worker
would be wrong in ways nobody notices at first: a job started through one worker is
unknown to the worker that answers the next poll, and every worker would run the source
schedules. So these workers refuse jobs with an error that says what to do instead; search
and chat are unaffected, and an index rebuilt from the command line is picked up by every
worker on its next search.
"""

from __future__ import annotations

from bot.errors import JobsUnavailable
from bot.jobs.protocol import JobSpec, JobState

WHAT_TO_DO = (
    "background jobs (ingest, upload, re-index and source syncs through the API) need a "
    "shared runner when the API serves with more than one worker: set "
    "SUPPORTBOT_CELERY_BROKER_URL and run `celery -A workers.celery_app worker`, or serve "
    "with --workers 1, or index on the server with `supportbot ingest PATH --kb NAME` "
    "(every worker serves the new index on its next search)"
)


class NoSharedJobRunner:
    name = "unavailable"

    async def submit(self, spec: JobSpec) -> JobState:
        raise JobsUnavailable(WHAT_TO_DO)

    async def get(self, job_id: str) -> JobState:
        raise JobsUnavailable(WHAT_TO_DO)

    async def list(self, *, kb: str | None = None, limit: int = 50) -> list[JobState]:
        raise JobsUnavailable(WHAT_TO_DO)

    async def cancel(self, job_id: str) -> JobState:
        raise JobsUnavailable(WHAT_TO_DO)

    async def close(self) -> None:
        return None
