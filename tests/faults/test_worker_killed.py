"""Fault drill: the process running a re-index is SIGKILLed (an OOM kill, a segfault),
while its Celery worker survives: once (the job is run again and succeeds), and every
time it runs (after `celery_max_worker_deaths` deaths the job fails instead of looping).

What the code promises (bot/jobs/celery_config.py: `acks_late` + `task_reject_on_worker_lost`):
the worker sees its pool process die, puts the task back on the queue at once, and the
replacement process runs it again from the start; the old index serves throughout and
the job ends succeeded, with nothing duplicated. The other case, the whole worker host
vanishing (redelivery after the broker's visibility timeout), is drilled in
tests/jobs/test_celery_worker.py.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from typing import Any

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
    running_deployment,
)
from tests.support.celery_worker import CeleryWorker
from tests.support.kb_corpus import write_corpus

pytestmark = [pytest.mark.celery, pytest.mark.redis, pytest.mark.model]

DOCUMENTS = 60
MAX_WORKER_DEATHS = 3
"""The default of SUPPORTBOT_CELERY_MAX_WORKER_DEATHS, which the deployment leaves unset."""


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    with running_deployment(tmp_path_factory.mktemp("worker-killed"), DOCUMENTS) as deployment:
        yield deployment


@pytest.fixture(scope="module")
def client(deployment: Deployment) -> Iterator[httpx.Client]:
    with api_client(deployment, DOCUMENTS) as c:
        yield c


def settled_log(worker: CeleryWorker, job_id: str, killed: int = 1, timeout_s: float = 15.0) -> str:
    """The worker's log once every delivery of the job has been dealt with."""
    task = f"Task supportbot.reindex_kb[{job_id}]"
    deadline = time.monotonic() + timeout_s
    while True:
        log = worker.log()
        outcomes = sum(log.count(f"{task} {word}") for word in ("succeeded", "ignored", "raised"))
        if log.count(f"{task} received") == outcomes + killed or time.monotonic() > deadline:
            return log  # + the deliveries whose process was killed
        time.sleep(0.1)


def start_reindex(
    deployment: Deployment, client: httpx.Client, marker: str
) -> tuple[tuple[int, int], str]:
    """The KB's counts before, and the id of a re-index of a source now mentioning `marker`."""
    counts = kb_counts(client)
    write_corpus(deployment.sources / KB, DOCUMENTS, marker=marker)
    return counts, client.post(f"/admin/kbs/{KB}/reindex", headers=AUTH).json()["job"]["id"]


def wait_for_a_run_embedding(client: httpx.Client, job_id: str, since: float) -> dict[str, Any]:
    """The job once a run started after `since` (wall clock) is under way and not yet past
    embedding. Any running phase will do: on a quiet machine the 60 documents embed between
    two polls, and progress may jump from none to all of them in one batch."""
    deadline = time.monotonic() + 180
    while True:
        job = client.get(f"/admin/jobs/{job_id}", headers=AUTH).json()
        progress = job["progress"] or {}
        updated = dt.datetime.fromisoformat(job["updated_at"]).timestamp()
        embedded_all = progress.get("phase") == "embedding" and progress["done"] >= DOCUMENTS
        later_phase = progress.get("phase") not in (None, "parsing", "chunking", "embedding")
        if job["state"] == "running" and updated > since and not (embedded_all or later_phase):
            return job
        assert job["state"] in ("queued", "running") and time.monotonic() < deadline, job
        time.sleep(0.02)


def test_pool_process_killed_mid_reindex_is_requeued_at_once_and_completes(
    deployment: Deployment, client: httpx.Client
) -> None:
    worker = deployment.worker
    counts, job_id = start_reindex(deployment, client, marker="axolotlite")
    wait_for_a_run_embedding(client, job_id, since=0.0)
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


def test_a_job_whose_process_dies_every_run_fails_after_the_limit_and_the_old_index_serves(
    deployment: Deployment, client: httpx.Client
) -> None:
    worker = deployment.worker
    since = time.time()
    counts, job_id = start_reindex(deployment, client, marker="basilisk")
    started = time.monotonic()
    for _ in range(MAX_WORKER_DEATHS):
        wait_for_a_run_embedding(client, job_id, since)
        since = time.time()
        worker.kill_pool_child()
        assert hits(client, "basilisk") == [], "the old index keeps serving"

    done = wait_job(client, job_id, timeout_s=180)
    failed_s = time.monotonic() - started
    log = settled_log(worker, job_id, killed=MAX_WORKER_DEATHS)
    assert done["state"] == "failed", (done, log[-3000:])
    assert done["error"].startswith("job_abandoned: "), done
    assert f"died {MAX_WORKER_DEATHS} times running this job" in done["error"], done
    assert "see the worker logs" in done["error"]
    task = f"Task supportbot.reindex_kb[{job_id}]"
    assert log.count(f"{task} raised") == 1 and "JobAbandoned" in log, log[-3000:]
    assert log.count(f"{task} succeeded") == 0
    assert worker.alive, "the worker survives; only its pool processes died"
    assert hits(client, "basilisk") == [] and kb_counts(client) == counts
    time.sleep(2)  # a copy the broker restores later is ignored, never run a fourth time
    assert client.get(f"/admin/jobs/{job_id}", headers=AUTH).json()["state"] == "failed"
    print(f"\nprocess killed on each of {MAX_WORKER_DEATHS} runs: job failed {failed_s:.1f}s in")
