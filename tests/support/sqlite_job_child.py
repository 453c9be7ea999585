"""A process that joins a data dir's shared job runner and never finishes a job.

`python -m tests.support.sqlite_job_child DATA_DIR`: takes the runner lock when it is free,
claims queued jobs and reports progress on them forever, so a test can kill it mid-job
(SIGKILL) and watch another runner take over. No models: the executor only waits.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from bot.jobs.protocol import JobProgress, JobResult, JobSpec, ProgressSink
from tests.support.sqlite_jobs import runner_for


async def never_finishes(spec: JobSpec, progress: ProgressSink) -> JobResult:
    done = 0
    while True:
        progress(JobProgress("embedding", done, 1_000_000))
        done += 1
        await asyncio.sleep(0.05)


async def main(data_dir: Path) -> None:
    runner = runner_for(data_dir, never_finishes)
    await runner.start()
    print("started", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))
