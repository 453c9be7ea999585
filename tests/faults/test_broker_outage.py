"""Fault drill: the Redis that is the Celery broker goes away, then comes back.

Two deployments (tests/support/celery_deployment.py, real redis-server and worker):

* one Redis for everything (broker, result backend, job records, cache): it is killed;
* a Redis of its own for the broker, the cache on another: only the broker's is killed
  (no worker needed: nothing can be queued while it is down);
* either, frozen (SIGSTOP): connections accepted, never answered;
* the Redis holding job state frozen: the one Redis for everything, or a result backend of
  its own (SUPPORTBOT_CELERY_RESULT_BACKEND).

What the code promises: submitting a job answers 503 with Retry-After and a code and
message that say the job queue is unreachable and what to check, within a bound (not the
broker's own reconnect time); search and chat keep answering; no job is recorded that was
never queued; once Redis is back, a submitted job is queued and the worker runs it. Reading jobs
(`GET /admin/jobs`, `GET /admin/jobs/{id}`) with the job state's Redis frozen answers 503
`backend_unavailable` + Retry-After within SUPPORTBOT_JOB_STORE_TIMEOUT_S (plus slack), not
the backend's socket timeout, and answers again as soon as Redis thaws.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from bot.api.app import create_app
from tests.support.admin_client import AUTH, admin_settings, register_folder, wait_job
from tests.support.celery_deployment import KB, Deployment, api_client, hits, running_deployment
from tests.support.kb_corpus import write_corpus
from tests.support.live_server import serve
from tests.support.redis_fixtures import started_redis

pytestmark = [pytest.mark.celery, pytest.mark.redis, pytest.mark.model]

DOCUMENTS = 10
BOUND_S = 5.0
"""The longest a submission may take while the broker is away: refused connections fail at
once, a frozen broker costs two tries of SUPPORTBOT_CELERY_SUBMIT_TIMEOUT_S (1 s) and the
job records' SUPPORTBOT_JOB_STORE_TIMEOUT_S (1 s); the rest is slack for a loaded machine."""
RECOVERY_S = 60.0
READ_BOUND_S = 3.0
"""The longest a job read may take with the job state's Redis frozen: one
SUPPORTBOT_JOB_STORE_TIMEOUT_S (1 s), the rest slack for a loaded machine."""


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    with running_deployment(tmp_path_factory.mktemp("broker-outage"), DOCUMENTS) as deployment:
        yield deployment


@pytest.fixture(scope="module")
def client(deployment: Deployment) -> Iterator[httpx.Client]:
    with api_client(deployment, DOCUMENTS) as c:
        yield c


def submit(client: httpx.Client) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = client.post(f"/admin/kbs/{KB}/ingest", headers=AUTH)
    return response, time.monotonic() - started


def assert_queue_unavailable(response: httpx.Response, seconds: float) -> float:
    assert seconds < BOUND_S, (
        f"the submission waited {seconds:.1f}s on the missing broker: {response.text}"
    )
    assert response.status_code == 503, response.text
    assert int(response.headers["retry-after"]) >= 1
    error = response.json()["error"]
    assert error["code"] == "backend_unavailable", error
    assert "unreachable" in error["message"] and "CELERY_BROKER_URL" in error["message"], error
    return seconds


def job_ids(client: httpx.Client) -> list[str]:
    listed = client.get("/admin/jobs", headers=AUTH)
    assert listed.status_code == 200, listed.text
    return [job["id"] for job in listed.json()]


def submitted_once_back(client: httpx.Client) -> tuple[str, float]:
    """The id of the first submission accepted after the outage, and how long that took."""
    started = time.monotonic()
    while True:
        response, _ = submit(client)
        if response.status_code == 202:
            return str(response.json()["job"]["id"]), time.monotonic() - started
        assert response.status_code == 503, response.text
        assert time.monotonic() - started < RECOVERY_S, f"no submission accepted: {response.text}"
        time.sleep(0.2)


def test_broker_killed_submission_answers_503_fast_search_serves_and_jobs_run_when_back(
    deployment: Deployment, client: httpx.Client
) -> None:
    redis = deployment.redis
    assert (
        redis.url
        == deployment.env["SUPPORTBOT_CELERY_BROKER_URL"]
        == deployment.env["SUPPORTBOT_REDIS_URL"]
    )
    redis.kill()
    try:
        refused_s = max(assert_queue_unavailable(*submit(client)) for _ in range(3))
        reindex = client.post(f"/admin/kbs/{KB}/reindex", headers=AUTH)
        assert reindex.status_code == 503, reindex.text
        assert hits(client, "topic3") == ["topic-003.md"], "search keeps answering"
        chat = client.post("/v1/chat", json={"kb": KB, "message": "how does topic3 work?"})
        assert chat.status_code == 200 and chat.json()["citations"], chat.text
    finally:
        redis.start()  # same port, empty: a crashed broker comes back without its queue

    write_corpus(deployment.sources / KB, DOCUMENTS, marker="narwhal")
    job_id, accepted_s = submitted_once_back(client)
    done = wait_job(client, job_id, timeout_s=RECOVERY_S)
    assert done["state"] == "succeeded", (done, deployment.worker.log()[-3000:])
    assert done["result"]["updated"] == 1
    assert hits(client, "narwhal") == ["topic-000.md"], "the worker ran it"
    print(f"\nbroker killed: 503 in {refused_s:.2f}s at most; accepted {accepted_s:.2f}s after")


@contextmanager
def api_without_worker(
    root: Path, cache_url: str, broker_url: str, **values: str
) -> Iterator[httpx.Client]:
    """An API host on these Redis servers (`values`: more settings), a KB registered (its
    ingest queued: no worker here, nothing can run while the broker is away anyway)."""
    write_corpus(root / "sources" / KB, DOCUMENTS)
    settings = admin_settings(root, redis_url=cache_url, celery_broker_url=broker_url, **values)
    with (
        serve(create_app(settings), startup_timeout_s=300) as url,
        httpx.Client(base_url=url, timeout=120) as client,
    ):
        register_folder(client, KB, KB)
        yield client


def test_broker_of_its_own_killed_answers_503_and_records_no_job_that_was_never_queued(
    tmp_path: Path,
) -> None:
    with (
        started_redis() as cache,
        started_redis() as broker,
        api_without_worker(tmp_path, cache.url, broker.url) as c,
    ):
        before = job_ids(c)
        broker.kill()
        try:
            refused_s = max(assert_queue_unavailable(*submit(c)) for _ in range(3))
        finally:
            broker.start()
        assert job_ids(c) == before, "no job is listed that was never queued"
        job_id, accepted_s = submitted_once_back(c)
        assert job_ids(c) == [job_id, *before]
    print(
        f"\nbroker alone killed: 503 in {refused_s:.2f}s at most; accepted {accepted_s:.2f}s after"
    )


@pytest.mark.parametrize("shared", [True, False], ids=["one-redis", "broker-alone"])
def test_frozen_broker_answers_503_within_the_bound(tmp_path: Path, shared: bool) -> None:
    """SIGSTOP: connections are accepted and never answered, the slowest way to be down."""
    with (
        started_redis() as cache,
        started_redis() as broker,
        api_without_worker(tmp_path, (broker if shared else cache).url, broker.url) as c,
    ):
        broker.freeze()
        try:
            refused_s = max(assert_queue_unavailable(*submit(c)) for _ in range(2))
            search = c.post("/v1/search", json={"kb": KB, "query": "topic3"})
            assert search.status_code == 200, "search keeps answering"
        finally:
            broker.thaw()
        _, accepted_s = submitted_once_back(c)
    print(f"\nbroker frozen: 503 in {refused_s:.2f}s at most; accepted {accepted_s:.2f}s after")


def assert_job_reads_unavailable(client: httpx.Client, job_id: str, names: str) -> float:
    """Both job reads answer 503 + Retry-After naming what to check, within READ_BOUND_S."""
    slowest = 0.0
    for path in ("/admin/jobs", f"/admin/jobs/{job_id}"):
        started = time.monotonic()
        response = client.get(path, headers=AUTH)
        seconds = time.monotonic() - started
        assert seconds < READ_BOUND_S, f"{path} waited {seconds:.1f}s on frozen Redis"
        assert response.status_code == 503, (path, response.text)
        assert int(response.headers["retry-after"]) >= 1
        error = response.json()["error"]
        assert error["code"] == "backend_unavailable", error
        assert "unreachable" in error["message"] and names in error["message"], error
        slowest = max(slowest, seconds)
    return slowest


def job_back(client: httpx.Client, job_id: str) -> tuple[dict[str, object], float]:
    """The job as read once Redis is back, and how long after the thaw that took."""
    started = time.monotonic()
    while (response := client.get(f"/admin/jobs/{job_id}", headers=AUTH)).status_code != 200:
        assert response.status_code == 503, response.text
        assert time.monotonic() - started < RECOVERY_S, f"reads never recovered: {response.text}"
        time.sleep(0.2)
    return response.json(), time.monotonic() - started


def test_frozen_redis_job_reads_answer_503_fast_and_recover(
    deployment: Deployment, client: httpx.Client
) -> None:
    """One Redis for everything: the job records' read is the first to wait."""
    job_id = job_ids(client)[0]
    deployment.redis.freeze()
    try:
        slowest = assert_job_reads_unavailable(client, job_id, "SUPPORTBOT_REDIS_URL")
        assert hits(client, "topic3") == ["topic-003.md"], "search keeps answering"
    finally:
        deployment.redis.thaw()
    job, back_s = job_back(client, job_id)
    assert job["state"] == "succeeded", job
    print(f"\nRedis frozen: job reads 503 in {slowest:.2f}s at most; back {back_s:.2f}s after")


def test_frozen_result_backend_of_its_own_answers_503_fast_and_recovers(tmp_path: Path) -> None:
    """Job records answer, Celery's result backend (a Redis of its own) does not. No worker:
    the state read goes to the result backend all the same (a queued job's is PENDING)."""
    with (
        started_redis() as redis,
        started_redis() as results,
        api_without_worker(tmp_path, redis.url, redis.url, celery_result_backend=results.url) as c,
    ):
        (job_id,) = job_ids(c)
        results.freeze()
        try:
            slowest = assert_job_reads_unavailable(c, job_id, "SUPPORTBOT_CELERY_RESULT_BACKEND")
            search = c.post("/v1/search", json={"kb": KB, "query": "topic3"})
            assert search.status_code == 200, "search keeps answering"
        finally:
            results.thaw()
        job, back_s = job_back(c, job_id)
        assert job["state"] == "queued", job
    print(f"\nresult backend frozen: job reads 503 in {slowest:.2f}s at most; back {back_s:.2f}s")
