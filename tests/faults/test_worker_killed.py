"""Fault drill: the process running a re-index is SIGKILLed (an OOM kill, a segfault),
while its Celery worker survives.

What the code promises (bot/jobs/celery_config.py: `acks_late` + `task_reject_on_worker_lost`):
the worker sees its pool process die, puts the task back on the queue at once, and the
replacement process runs it again from the start; the old index serves throughout and
the job ends succeeded, with nothing duplicated. The other case, the whole worker host
vanishing (redelivery after the broker's visibility timeout), is drilled in
tests/jobs/test_celery_worker.py.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.support.admin_client import AUTH, wait_job
from tests.support.celery_deployment import (
    KB,
    VISIBILITY_TIMEOUT_S,
    Deployment,
    api_client,
    hits,
    kb_counts,
)
from tests.support.celery_worker import CeleryWorker
from tests.support.kb_corpus import write_corpus
from tests.support.redis_fixtures import RedisServer

pytestmark = [pytest.mark.celery, pytest.mark.redis, pytest.mark.model]

DOCUMENTS = 60


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    redis = RedisServer()
    redis.start()
    root = tmp_path_factory.mktemp("worker-killed")
    write_corpus(root / "sources" / KB, DOCUMENTS)
    deployment = Deployment(root, redis)
    try:
        yield deployment
    finally:
        deployment.worker.stop()
        redis.cleanup()


@pytest.fixture(scope="module")
def client(deployment: Deployment) -> Iterator[httpx.Client]:
    with api_client(deployment, DOCUMENTS) as c:
        yield c


def settled_log(worker: CeleryWorker, job_id: str, timeout_s: float = 15.0) -> str:
    """The worker's log once every delivery of the job has been dealt with."""
    task = f"Task supportbot.reindex_kb[{job_id}]"
    deadline = time.monotonic() + timeout_s
    while True:
        log = worker.log()
        outcomes = sum(log.count(f"{task} {word}") for word in ("succeeded", "ignored", "raised"))
        if log.count(f"{task} received") == outcomes + 1 or time.monotonic() > deadline:
            return log  # + 1: the delivery whose process was killed
        time.sleep(0.1)


def test_pool_process_killed_mid_reindex_is_requeued_at_once_and_completes(
    deployment: Deployment, client: httpx.Client
) -> None:
    worker = deployment.worker
    counts = kb_counts(client)
    write_corpus(deployment.sources / KB, DOCUMENTS, marker="axolotlite")
    job_id = client.post(f"/admin/kbs/{KB}/reindex", headers=AUTH).json()["job"]["id"]
    deadline = time.monotonic() + 120
    while True:
        job = client.get(f"/admin/jobs/{job_id}", headers=AUTH).json()
        progress = job["progress"] or {}
        if progress.get("phase") == "embedding" and 4 <= progress["done"] < DOCUMENTS:
            break
        assert job["state"] in ("queued", "running") and time.monotonic() < deadline, job
        time.sleep(0.02)
    killed = worker.kill_pool_child()
    killed_at = time.monotonic()

    assert hits(client, "axolotlite") == [], "the old index keeps serving"
    done = wait_job(client, job_id, timeout_s=180)
    finished_s = time.monotonic() - killed_at
    log = settled_log(worker, job_id)
    assert done["state"] == "succeeded", (done, log[-3000:])
    assert worker.alive and killed not in worker.pool_children(), "same worker, new process"
    assert "WorkerLostError" in log, "the worker noticed its process die"
    task = f"Task supportbot.reindex_kb[{job_id}]"
    received, ignored = log.count(f"{task} received"), log.count(f"{task} ignored")
    assert log.count(f"{task} succeeded") == 1, "run again once, to the end"
    # A copy restored by the broker because the requeued delivery outlived the visibility
    # timeout (the replacement process loads the model first) is ignored, not run again.
    assert received >= 2 and received - ignored == 2, log[-3000:]
    again = client.get(f"/admin/jobs/{job_id}", headers=AUTH).json()
    assert (again["state"], again["result"]) == ("succeeded", done["result"])
    assert finished_s < VISIBILITY_TIMEOUT_S + 60
    assert hits(client, "axolotlite") == ["topic-000.md"]
    assert kb_counts(client) == counts, "the rerun rebuild duplicated nothing"
    print(f"\npool process killed: job succeeded {finished_s:.1f}s later, same worker")
