"""InProcessSyncScheduler: connected sources' schedules when there is no Celery beat.

Every `tick_s` it looks for sources whose interval has elapsed and, if any and no
`sync_due` job is already queued or running, submits one (which syncs each due source
in turn). With a broker, Celery beat sends the same `sync_due` job instead.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from bot.errors import SupportbotError
from bot.jobs.protocol import JobRunner, JobSpec, JobState
from bot.sources.connected import ConnectedSources

logger = logging.getLogger(__name__)


class InProcessSyncScheduler:
    def __init__(
        self,
        jobs: JobRunner,
        sources: ConnectedSources,
        tick_s: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._jobs = jobs
        self._sources = sources
        self._tick_s = tick_s
        self._clock = clock

    async def tick(self) -> JobState | None:
        """Submit a `sync_due` job when a source is due; the job, or None."""
        now = self._clock()
        due = [s.kb for s in await asyncio.to_thread(self._sources.list) if s.due(now)]
        if not due:
            return None
        recent = await self._jobs.list(limit=50)
        if any(job.kind == "sync_due" and not job.finished for job in recent):
            return None
        logger.info("sources due a sync: %s", ", ".join(due))
        return await self._jobs.submit(JobSpec("sync_due", None))

    async def run(self) -> None:
        while True:
            try:
                await self.tick()
            except SupportbotError as exc:
                logger.warning("sync scheduler: %s", exc.message)
            await asyncio.sleep(self._tick_s)
