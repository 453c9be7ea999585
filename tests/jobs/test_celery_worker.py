"""Jobs through the API, run by a real Celery worker process over a real redis-server.

The API (uvicorn, in this process) and the worker (a `celery worker` subprocess) share the
embedded index's data directory, as an API host and a worker host share a volume.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.admin_client import AUTH, wait_job
from tests.support.celery_deployment import (
    DOCUMENTS,
    KB,
    VISIBILITY_TIMEOUT_S,
    Deployment,
    api_client,
    hits,
    kb_counts,
    running_deployment,
)
from tests.support.kb_corpus import write_corpus

pytestmark = [pytest.mark.celery, pytest.mark.redis, pytest.mark.model]


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    with running_deployment(tmp_path_factory.mktemp("celery"), DOCUMENTS) as deployment:
        yield deployment


@pytest.fixture(scope="module")
def client(deployment: Deployment) -> Iterator[httpx.Client]:
    with api_client(deployment, DOCUMENTS) as c:
        yield c


def test_reindex_through_the_api_reports_progress_and_swaps_at_the_end(
    deployment: Deployment, client: httpx.Client
) -> None:
    deployment.ensure_worker()
    counts = kb_counts(client)
    write_corpus(deployment.sources / KB, DOCUMENTS, marker="zebracorn")
    assert hits(client, "zebracorn") == []

    started = time.monotonic()
    response = client.post(f"/admin/kbs/{KB}/reindex", headers=AUTH)
    assert response.status_code == 202
    job_id = response.json()["job"]["id"]
    seen: list[dict[str, Any]] = []
    served_old_while_running = False
    while (job := client.get(f"/admin/jobs/{job_id}", headers=AUTH).json())["state"] not in (
        "succeeded",
        "failed",
        "cancelled",
    ):
        assert time.monotonic() - started < 300, f"re-index did not finish: {job}"
        seen.append(job)
        if job["state"] == "running" and job["progress"]:
            served_old_while_running |= hits(client, "zebracorn") == []
        time.sleep(0.05)
    swap_s = time.monotonic() - started

    assert job["state"] == "succeeded", (job, deployment.worker.log()[-3000:])
    assert job["result"]["documents"] == DOCUMENTS
    steps = {
        (j["progress"]["phase"], j["progress"]["done"], j["progress"]["total"])
        for j in seen
        if j["progress"] and j["progress"]["phase"] in ("embedding", "indexing")
    }
    assert len(steps) >= 2, f"progress (documents done/total, phase) moves: {seen}"
    assert {total for _, _, total in steps} == {DOCUMENTS}
    assert served_old_while_running, "the old index served searches during the rebuild"
    assert hits(client, "zebracorn") == ["topic-000.md"], "the new index is served after"
    assert kb_counts(client) == counts
    print(f"\nreindex of {DOCUMENTS} docs with one worker: {swap_s:.1f}s from POST to swap")


def test_worker_killed_mid_reindex_task_is_redelivered_and_completes(
    deployment: Deployment, client: httpx.Client
) -> None:
    first_worker = deployment.ensure_worker()
    counts = kb_counts(client)
    write_corpus(deployment.sources / KB, DOCUMENTS, marker="quokkafish")

    job_id = client.post(f"/admin/kbs/{KB}/reindex", headers=AUTH).json()["job"]["id"]
    deadline = time.monotonic() + 120
    while True:
        job = client.get(f"/admin/jobs/{job_id}", headers=AUTH).json()
        progress = job["progress"] or {}
        if progress.get("phase") == "embedding" and 4 <= progress["done"] < DOCUMENTS:
            break
        assert job["state"] in ("queued", "running") and time.monotonic() < deadline, job
        time.sleep(0.02)
    first_worker.kill()
    killed_at = time.monotonic()

    assert hits(client, "quokkafish") == [], "the old index keeps serving"
    assert client.get(f"/admin/jobs/{job_id}", headers=AUTH).json()["state"] == "running"
    second_worker = deployment.ensure_worker()
    assert second_worker is not first_worker
    done = wait_job(client, job_id, timeout_s=240)
    assert done["state"] == "succeeded", (done, second_worker.log()[-3000:])
    assert time.monotonic() - killed_at >= VISIBILITY_TIMEOUT_S * 0.9
    assert f"Task supportbot.reindex_kb[{job_id}] received" in second_worker.log()
    assert hits(client, "quokkafish") == ["topic-000.md"]
    assert kb_counts(client) == counts, "the redelivered rebuild duplicated nothing"


def test_rerunning_an_ingest_is_idempotent(deployment: Deployment, client: httpx.Client) -> None:
    deployment.ensure_worker()
    counts = kb_counts(client)
    results = []
    for _ in range(2):
        job_id = client.post(f"/admin/kbs/{KB}/ingest", headers=AUTH).json()["job"]["id"]
        results.append(wait_job(client, job_id)["result"])
    assert [(r["unchanged"], r["new"], r["chunks_written"]) for r in results] == [
        (DOCUMENTS, 0, 0)
    ] * 2
    assert kb_counts(client) == counts


def test_a_copy_delivered_after_the_job_finished_is_not_run_again(
    deployment: Deployment, client: httpx.Client
) -> None:
    """What the broker does when a job outlives the visibility timeout: a second delivery."""
    from bot.jobs.celery_runner import TASK_NAMES
    from workers.celery_app import make_celery

    worker = deployment.ensure_worker()
    job_id = client.post(f"/admin/kbs/{KB}/reindex", headers=AUTH).json()["job"]["id"]
    first = wait_job(client, job_id)
    assert first["state"] == "succeeded"
    app = make_celery(deployment.settings())
    try:
        app.send_task(TASK_NAMES["reindex"], kwargs={"kb": KB}, task_id=job_id)
        deadline = time.monotonic() + 60
        while "ignoring a redelivered copy" not in worker.log():
            assert time.monotonic() < deadline, worker.log()[-3000:]
            time.sleep(0.1)
    finally:
        app.close()
    again = client.get(f"/admin/jobs/{job_id}", headers=AUTH).json()
    assert (again["state"], again["result"]) == ("succeeded", first["result"])


def test_cancelling_a_running_reindex_keeps_the_old_index(
    deployment: Deployment, client: httpx.Client
) -> None:
    deployment.ensure_worker()
    write_corpus(deployment.sources / KB, DOCUMENTS, marker="wombatling")
    job_id = client.post(f"/admin/kbs/{KB}/reindex", headers=AUTH).json()["job"]["id"]
    deadline = time.monotonic() + 120
    while (client.get(f"/admin/jobs/{job_id}", headers=AUTH).json()["progress"] or {}).get(
        "phase"
    ) != "embedding":
        assert time.monotonic() < deadline, "the re-index never reported its embedding phase"
        time.sleep(0.02)
    assert client.post(f"/admin/jobs/{job_id}/cancel", headers=AUTH).status_code == 202
    done = wait_job(client, job_id, timeout_s=60)
    assert done["state"] == "cancelled" and done["error"] == "cancelled on request"
    assert hits(client, "wombatling") == []
    assert hits(client, "quokkafish") == ["topic-000.md"]
