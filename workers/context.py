"""Per-process worker state: services built once (model loaded once) and one event loop.

Prefork children build it in `worker_process_init`; a solo worker on its first task.
One long-lived loop per process, not `asyncio.run` per task, because async clients
(Elasticsearch, Redis) bind their connections to the loop they were first used on.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from bot.jobs.protocol import JobResult, JobSpec, ProgressSink
from bot.jobs.records import RedisJobRecords
from bot.jobs.work import run_job
from bot.observability.tracing import context_from
from bot.services import Services, build_services
from bot.settings import Settings

if TYPE_CHECKING:
    from workers.celery_app import SupportbotCelery

logger = logging.getLogger(__name__)


class WorkerContext:
    def __init__(self, settings: Settings) -> None:
        started = time.perf_counter()
        self.settings = settings
        self.services: Services = build_services(settings, warm=False)
        self.services.embedder.warm_up()
        self.loop = asyncio.new_event_loop()
        records_url = settings.redis_url or settings.celery_broker_url
        assert records_url is not None, "a Celery worker always has a broker URL"
        self.records = RedisJobRecords.from_url(records_url, retention_s=settings.job_retention_s)
        logger.info("worker process ready (%.1fs to build services)", time.perf_counter() - started)

    def run(
        self,
        spec: JobSpec,
        progress: ProgressSink,
        on_start: Callable[[Callable[[], object]], None],
        trace_context: Mapping[str, object] | None = None,
    ) -> JobResult:
        """Run one job on this process's loop; `on_start` receives a function that cancels it.

        `trace_context`: the message's trace headers; the job's span continues that trace."""

        async def main() -> JobResult:
            task = asyncio.current_task()
            assert task is not None
            on_start(task.cancel)
            tracer = self.services.tracer
            if tracer is None:
                return await run_job(spec, self.services.job_context(), progress)
            with tracer.start_as_current_span(
                f"job {spec.kind}",
                context=context_from(trace_context or {}),
                attributes={"job.kind": spec.kind},
            ):
                return await run_job(spec, self.services.job_context(), progress)

        return self.loop.run_until_complete(main())

    def close(self) -> None:
        try:
            self.loop.run_until_complete(self.services.aclose())
        finally:
            self.loop.close()
            self.records.close()


_context: WorkerContext | None = None
_lock = threading.Lock()


def worker_context(app: SupportbotCelery) -> WorkerContext:
    global _context
    with _lock:
        if _context is None:
            logger.info("building services for worker process (loading the embedding model)")
            _context = WorkerContext(app.settings)
        return _context


def close_worker_context() -> None:
    global _context
    with _lock:
        if _context is not None:
            _context.close()
            _context = None
