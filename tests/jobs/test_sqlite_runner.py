"""The shared SQLite job runner across runners and processes: real files, real locks, a
real process killed mid-job. The job functions are stand-ins that wait or count (the real
ones, on the served API, are in tests/serving/test_workers.py)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from bot.errors import JobNotFound
from bot.jobs.inprocess import JobExecutor
from bot.jobs.protocol import JobProgress, JobResult, JobSpec, JobState, ProgressSink
from bot.jobs.sqlite_runner import SqliteJobRunner
from tests.support.sqlite_jobs import runner_for, runner_pid

REPO = Path(__file__).resolve().parents[2]
TAKEOVER_S = 5.0
"""A killed runner's job must be failed within this (the lock is freed at once; polls 50 ms)."""


class Ledger:
    """What the stand-in job functions did, and how many ran at once."""

    def __init__(self) -> None:
        self.runs: list[tuple[str, str | None]] = []
        self.now = 0
        self.most = 0
        self.release = asyncio.Event()

    def quick(self, who: str) -> JobExecutor:
        async def execute(spec: JobSpec, progress: ProgressSink) -> JobResult:
            self.now += 1
            self.most = max(self.most, self.now)
            try:
                progress(JobProgress("indexing", 0, 1))
                await asyncio.sleep(0.05)
                self.runs.append((who, spec.kb))
                return {"ran_in": who}
            finally:
                self.now -= 1

        return execute

    def until_released(self, who: str) -> JobExecutor:
        async def execute(spec: JobSpec, progress: ProgressSink) -> JobResult:
            self.runs.append((who, spec.kb))
            done = 0
            while not self.release.is_set():
                progress(JobProgress("embedding", done, 100))
                done += 1
                await asyncio.sleep(0.02)
            return {"ran_in": who}

        return execute


@pytest.fixture
async def ledger() -> Ledger:
    return Ledger()


@asynccontextmanager
async def two_workers(
    data_dir: Path, leader: JobExecutor, other: JobExecutor
) -> AsyncIterator[tuple[SqliteJobRunner, SqliteJobRunner]]:
    """Two workers' runners on one data dir (each its own file handle and lock), the first
    one started first and running the jobs; both closed after (closing twice is fine)."""
    first, second = runner_for(data_dir, leader), runner_for(data_dir, other)
    try:
        await first.start()
        await until_leading(first)
        await second.start()
        yield first, second
    finally:
        await first.close()
        await second.close()


@pytest.fixture
async def pair(
    tmp_path: Path, ledger: Ledger
) -> AsyncIterator[tuple[SqliteJobRunner, SqliteJobRunner]]:
    async with two_workers(tmp_path, ledger.quick("first"), ledger.quick("second")) as both:
        yield both


async def until(
    runner: SqliteJobRunner, job_id: str, done: Callable[[JobState], bool], timeout_s: float = 10
) -> JobState:
    deadline = time.monotonic() + timeout_s
    while not done(state := await runner.get(job_id)):
        assert time.monotonic() < deadline, f"job {job_id} stuck: {state}"
        await asyncio.sleep(0.02)
    return state


async def test_jobs_from_either_worker_run_once_each_one_at_a_time(
    pair: tuple[SqliteJobRunner, SqliteJobRunner], ledger: Ledger
) -> None:
    first, second = pair
    submitted = [
        await (first if n % 2 else second).submit(JobSpec("reindex", f"kb{n}")) for n in range(6)
    ]
    for job in submitted:
        finished = await until(first, job.id, lambda s: s.finished)
        assert finished == await second.get(job.id), "both workers read the same state"
        assert finished.state == "succeeded" and finished.result is not None
        assert finished.progress == JobProgress("indexing", 0, 1)
    assert sorted(kb or "" for _, kb in ledger.runs) == [f"kb{n}" for n in range(6)]
    assert len({who for who, _ in ledger.runs}) == 1, "one runner ran them all"
    assert ledger.most == 1
    assert [kb for _, kb in ledger.runs] == [f"kb{n}" for n in range(6)], "in submitted order"
    assert first.leading != second.leading
    listed = await second.list(limit=3)
    assert [s.id for s in listed] == [j.id for j in reversed(submitted)][:3], "newest first"
    assert [s.kb for s in await first.list(kb="kb2")] == ["kb2"]


async def test_an_unknown_job_is_not_found_by_any_worker(
    pair: tuple[SqliteJobRunner, SqliteJobRunner],
) -> None:
    for runner in pair:
        with pytest.raises(JobNotFound):
            await runner.get("no-such-job")
        with pytest.raises(JobNotFound):
            await runner.cancel("no-such-job")


async def test_progress_and_cancel_reach_across_workers(tmp_path: Path, ledger: Ledger) -> None:
    async with two_workers(
        tmp_path, ledger.until_released("leader"), ledger.until_released("other")
    ) as (leader, other):
        job = await other.submit(JobSpec("reindex", "acme"))
        running = await until(
            other, job.id, lambda s: s.progress is not None and s.progress.done > 2
        )
        assert running.state == "running" and running.progress is not None
        assert running.progress.phase == "embedding"
        cancelled = await other.cancel(job.id)
        assert cancelled.state == "cancelled"
        assert ledger.runs == [("leader", "acme")]
        queued = await leader.submit(JobSpec("reindex", "later"))
        ledger.release.set()
        assert (await until(other, queued.id, lambda s: s.finished)).state == "succeeded"


async def test_a_worker_shutting_down_hands_its_job_to_the_next(
    tmp_path: Path, ledger: Ledger
) -> None:
    async with two_workers(
        tmp_path, ledger.until_released("leader"), ledger.quick("successor")
    ) as (leader, successor):
        job = await successor.submit(JobSpec("reindex", "acme"))
        await until(successor, job.id, lambda s: s.state == "running")
        await leader.close()
        finished = await until(successor, job.id, lambda s: s.finished)
        assert finished.state == "succeeded" and finished.result == {"ran_in": "successor"}
        assert successor.leading


@pytest.fixture
def child(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process that runs the data dir's jobs and never finishes one."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.support.sqlite_job_child", str(tmp_path)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None and process.stdout.readline().strip() == "started"
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)


async def test_a_killed_runner_process_leaves_no_job_running(
    tmp_path: Path, ledger: Ledger, child: subprocess.Popen[str]
) -> None:
    survivor = runner_for(tmp_path, ledger.quick("survivor"))
    try:
        stuck = await survivor.submit(JobSpec("reindex", "acme"))
        waiting = await survivor.submit(JobSpec("ingest", "acme", path="/srv/acme"))
        deadline = time.monotonic() + 30
        while runner_pid(tmp_path, stuck.id) != child.pid:
            assert time.monotonic() < deadline, "the other process never claimed the job"
            await asyncio.sleep(0.05)
        await survivor.start()
        await until(survivor, stuck.id, lambda s: s.progress is not None)
        assert not survivor.leading, "the lock is held by the other process"

        os.kill(child.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        failed = await until(survivor, stuck.id, lambda s: s.finished, timeout_s=TAKEOVER_S)
        took = time.monotonic() - killed_at
        assert failed.state == "failed" and failed.error is not None
        assert failed.error.startswith("job_abandoned:"), failed.error
        assert failed.progress is not None, "the last progress written stays readable"
        assert took < TAKEOVER_S
        finished = await until(survivor, waiting.id, lambda s: s.finished)
        assert finished.state == "succeeded", "the queued job ran on the survivor"
        assert ledger.runs == [("survivor", "acme")]
    finally:
        await survivor.close()


async def until_leading(runner: SqliteJobRunner) -> None:
    deadline = time.monotonic() + 10
    while not runner.leading:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)
