"""Job runners on real components: the in-process runner with the real job functions
(embedded index, packaged MiniLM), and the Celery runner's bookkeeping on a real Redis."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.errors import JobNotFound
from bot.jobs.inprocess import InProcessJobRunner
from bot.jobs.protocol import JobSpec, JobState
from bot.jobs.records import RedisJobRecords
from bot.jobs.work import run_job
from bot.services import Services, build_services
from bot.settings import Settings
from tests.support.kb_corpus import write_corpus
from tests.support.redis_fixtures import RedisServer, private_redis  # noqa: F401

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    data_dir = tmp_path_factory.mktemp("jobs-data")
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, data_dir=data_dir, reranker="none", embedding_batch_size=4
    )
    built = build_services(settings, warm=False)
    built.embedder.warm_up()
    yield built
    asyncio.run(built.backend.close())


def runner_for(services: Services) -> InProcessJobRunner:
    """A fresh runner per test (it binds to the test's event loop), real job functions."""
    return InProcessJobRunner(
        lambda spec, progress: run_job(spec, services.job_context(), progress)
    )


async def wait_for(runner: InProcessJobRunner, job_id: str, seen: list[JobState]) -> JobState:
    for _ in range(6000):
        state = await runner.get(job_id)
        seen.append(state)
        if state.finished:
            return state
        await asyncio.sleep(0.005)
    raise AssertionError(f"job {job_id} did not finish: {seen[-1]}")


def test_spec_round_trips_through_json() -> None:
    spec = JobSpec("delete_documents", "acme", source_ids=("a.md", "b/c.md"))
    assert JobSpec.from_json(spec.to_json()) == spec
    with pytest.raises(ValueError, match="unknown job kind"):
        JobSpec.from_json({"kind": "explode", "kb": "acme"})


async def test_ingest_reports_progress_and_a_rerun_adds_nothing(
    services: Services, tmp_path: Path
) -> None:
    runner, kb = runner_for(services), "ingest-kb"
    write_corpus(tmp_path / "src", 6)
    spec = JobSpec("ingest", kb, path=str(tmp_path / "src"))

    queued = await runner.submit(spec)
    assert queued.state == "queued" and queued.kind == "ingest" and queued.kb == kb
    seen: list[JobState] = []
    done = await wait_for(runner, queued.id, seen)
    assert done.state == "succeeded", done.error
    assert done.result is not None and done.result["new"] == 6
    assert done.progress is not None and done.progress.total > 0
    assert {"running"} <= {s.state for s in seen}
    chunks = (await services.backend.stats(kb)).chunks

    again = await wait_for(runner, (await runner.submit(spec)).id, [])
    assert again.result is not None
    assert (again.result["unchanged"], again.result["new"], again.result["chunks_written"]) == (
        6,
        0,
        0,
    )
    assert (await services.backend.stats(kb)).chunks == chunks, "no duplicated chunks"


async def test_reindex_cancelled_midway_keeps_old_index_then_swaps_in_new(
    services: Services, tmp_path: Path
) -> None:
    runner, kb, folder = runner_for(services), "reindex-kb", tmp_path / "src"
    write_corpus(folder, 24)
    services.sources.register(kb, "folder", folder)
    first = await wait_for(runner, (await runner.submit(JobSpec("ingest", kb, str(folder)))).id, [])
    assert first.state == "succeeded", first.error
    before = await services.backend.stats(kb)
    write_corpus(folder, 24, marker="zebracorn")

    job = await runner.submit(JobSpec("reindex", kb))
    while (state := await runner.get(job.id)).progress is None or (
        state.progress.phase != "embedding" or state.progress.done == 0
    ):
        assert not state.finished, state
        await asyncio.sleep(0.005)
    cancelled = await runner.cancel(job.id)
    assert cancelled.state == "cancelled"
    assert await services.backend.bm25(kb, "zebracorn", 5) == [], "old index still served"
    assert (await services.backend.stats(kb)).documents == before.documents

    done = await wait_for(runner, (await runner.submit(JobSpec("reindex", kb))).id, [])
    assert done.state == "succeeded", done.error
    assert done.result is not None and done.result["documents"] == 24
    hits = await services.backend.bm25(kb, "zebracorn", 5)
    assert [hit.chunk.source_id for hit in hits] == ["topic-000.md"]
    assert (await services.backend.stats(kb)).chunks == before.chunks


async def test_job_failure_says_what_to_do(services: Services) -> None:
    runner = runner_for(services)
    failed = await wait_for(runner, (await runner.submit(JobSpec("reindex", "no-source"))).id, [])
    assert failed.state == "failed"
    assert failed.error is not None and "no registered source" in failed.error


async def test_delete_documents_also_removes_uploaded_files(
    services: Services, tmp_path: Path
) -> None:
    runner, kb, folder = runner_for(services), "delete-kb", tmp_path / "uploads"
    write_corpus(folder, 3)
    services.sources.register(kb, "upload", folder)
    await wait_for(runner, (await runner.submit(JobSpec("ingest", kb, str(folder)))).id, [])
    spec = JobSpec("delete_documents", kb, source_ids=("topic-001.md", "missing.md"))
    done = await wait_for(runner, (await runner.submit(spec)).id, [])
    assert done.state == "succeeded", done.error
    assert done.result == {"deleted": 1, "files_removed": ["topic-001.md"]}
    assert not (folder / "topic-001.md").exists()
    assert sorted(await services.backend.document_hashes(kb)) == ["topic-000.md", "topic-002.md"]


async def test_resync_ingests_every_resyncable_source(services: Services, tmp_path: Path) -> None:
    runner = runner_for(services)
    write_corpus(tmp_path / "a", 2)
    services.sources.register("resync-a", "folder", tmp_path / "a", resync=True)
    services.sources.register("resync-b", "folder", tmp_path / "missing", resync=True)
    done = await wait_for(runner, (await runner.submit(JobSpec("resync", None))).id, [])
    assert done.state == "succeeded", done.error
    assert done.result is not None
    kbs = done.result["kbs"]
    assert isinstance(kbs, dict)
    assert kbs["resync-a"]["new"] == 2
    assert "does not exist" in kbs["resync-b"]["error"], "one broken source does not stop the rest"
    assert services.sources.get("resync-a").last_synced_at is not None  # type: ignore[union-attr]


async def test_list_get_and_unknown_ids(services: Services) -> None:
    runner = runner_for(services)
    a = await runner.submit(JobSpec("reindex", "no-source-a"))
    b = await runner.submit(JobSpec("reindex", "no-source-b"))
    assert [j.id for j in await runner.list()] == [b.id, a.id]
    assert [j.id for j in await runner.list(kb="no-source-a")] == [a.id]
    with pytest.raises(JobNotFound):
        await runner.get("nope")
    await runner.close()


@pytest.mark.redis
def test_redis_job_records(private_redis: RedisServer) -> None:  # noqa: F811
    records = RedisJobRecords.from_url(private_redis.url, retention_s=60)
    try:
        spec = JobSpec("ingest", "acme", path="/srv/help", base_url="https://x.example")
        records.create("job-1", spec)
        records.create("job-2", JobSpec("reindex", "other"))
        record = records.get("job-1")
        assert record is not None and record.spec == spec and not record.cancel_requested
        assert [r.id for r in records.recent(10)] == ["job-2", "job-1"]
        assert [r.id for r in records.recent(10, kb="acme")] == ["job-1"]
        records.request_cancel("job-1")
        assert records.cancel_requested("job-1")
        kept = records.create("job-1", JobSpec("reindex", "changed"), only_if_missing=True)
        assert kept.spec == spec, "a redelivered task keeps the original record"
        assert records.get("missing") is None
    finally:
        records.close()


@pytest.mark.redis
def test_runs_whose_process_died_are_counted_until_one_finishes(
    private_redis: RedisServer,  # noqa: F811
) -> None:
    records = RedisJobRecords.from_url(private_redis.url, retention_s=60)
    try:
        records.create("job-1", JobSpec("reindex", "acme"))
        assert records.start_run("job-1") == 0, "the first run follows no death"
        records.finish_run("job-1")
        assert records.start_run("job-1") == 0, "a finished run (a retry) is not a death"
        assert records.start_run("job-1") == 1, "started again without finishing: one died"
        assert records.start_run("job-1") == 2
        assert records.start_run("job-2") == 0, "counted per job"
        records.finish_run("job-1")
        assert records.start_run("job-1") == 0
        assert records.get("job-1") is not None, "the record still reads back"
    finally:
        records.close()


@pytest.mark.redis
async def test_celery_runner_bookkeeping_without_a_worker(
    private_redis: RedisServer,  # noqa: F811
    tmp_path: Path,
) -> None:
    """Queued until a worker takes it; a cancel before that sticks; unknown ids are 404s."""
    from celery import Celery

    from bot.jobs.celery_config import build_celery_app
    from bot.jobs.celery_runner import CeleryJobRunner

    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, data_dir=tmp_path, celery_broker_url=private_redis.url
    )
    records = RedisJobRecords.from_url(private_redis.url, retention_s=60)
    runner = CeleryJobRunner(build_celery_app(settings, Celery), records)
    try:
        job = await runner.submit(JobSpec("reindex", "acme"))
        assert job.state == "queued"
        assert (await runner.get(job.id)).state == "queued"
        assert [j.id for j in await runner.list(kb="acme")] == [job.id]
        assert (await runner.cancel(job.id)).state == "cancelled"
        with pytest.raises(JobNotFound):
            await runner.get("0123456789abcdef")
    finally:
        await runner.close()
