"""Fault drill: Elasticsearch goes away mid-bulk while a Celery worker re-indexes, then returns.

The worker and the API reach the shared test node through a TCP proxy
(tests/support/tcp_proxy.py) that cuts the service the moment the re-index sends its first
`/_bulk` request. What the code promises (workers/tasks.py: `autoretry_for`
BackendUnavailable, with backoff): the job is retried rather than failed, says why while it
waits ("retrying after: backend_unavailable: ..."), and succeeds once the node is back;
the old index serves until then, and the half-built index of the interrupted run never
becomes the alias target and does not outlive the rerun. The in-process runner, which does
not retry, is drilled in tests/faults/test_elasticsearch_writes.py.

Second drill: the KB's indices take no writes, as when a data node's disk passes the
flood-stage watermark. The test puts the very block Elasticsearch's disk monitor applies
(`index.blocks.read_only_allow_delete`, "disk usage exceeded flood-stage watermark") on this
deployment's indices itself: at once, and on these indices only (the disk-monitor path,
which blocks every index of the node after up to 30 s, is drilled in-process in
test_elasticsearch_writes.py). The worker's ingest fails on its first try (no Celery retry:
the block stays until an operator frees disk, `BackendBlocked`) with `index_read_only`
saying what to free and to run the job again; search keeps serving the old content; once
the block is lifted the same ingest succeeds.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
from elasticsearch import Elasticsearch

from tests.jobs.test_celery_worker_elasticsearch import EsDeployment
from tests.support.admin_client import AUTH, wait_job
from tests.support.celery_deployment import KB, api_client, hits, kb_counts
from tests.support.es_fixtures import elasticsearch_url  # noqa: F401
from tests.support.kb_corpus import write_corpus
from tests.support.redis_fixtures import started_redis
from tests.support.tcp_proxy import TcpProxy

pytestmark = [pytest.mark.celery, pytest.mark.redis, pytest.mark.elasticsearch, pytest.mark.model]

DOCUMENTS = 20
JOB_TIMEOUT_S = 180.0


@pytest.fixture(scope="module")
def proxy(elasticsearch_url: str) -> Iterator[TcpProxy]:  # noqa: F811
    with TcpProxy.to(elasticsearch_url) as running:
        yield running


@pytest.fixture(scope="module")
def deployment(
    tmp_path_factory: pytest.TempPathFactory,
    proxy: TcpProxy,
    elasticsearch_url: str,  # noqa: F811
) -> Iterator[EsDeployment]:
    root = tmp_path_factory.mktemp("es-lost-celery")
    write_corpus(root / "sources" / KB, DOCUMENTS)
    prefix = f"drill-{uuid.uuid4().hex[:8]}"
    direct = Elasticsearch(elasticsearch_url)
    with started_redis() as redis:
        deployment = EsDeployment(root, redis, proxy.url, prefix)
        deployment.es = direct  # the test's own view of the node, around the proxy
        try:
            yield deployment
        finally:
            deployment.worker.stop()
            names = list(deployment.served_indices())
            if names:
                direct.indices.delete(index=",".join(names))
            direct.close()


def alias_targets(deployment: EsDeployment) -> list[str]:
    alias = f"{deployment.prefix}-kb-{KB}"
    return sorted(name for name, aliases in deployment.served_indices().items() if alias in aliases)


def wait_for_log(deployment: EsDeployment, text: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while text not in deployment.worker.log():
        assert time.monotonic() < deadline, f"waited {timeout_s:.0f}s for {text!r} in the log"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def client(deployment: EsDeployment) -> Iterator[httpx.Client]:
    with api_client(deployment, DOCUMENTS) as c:
        yield c


def test_node_lost_mid_bulk_under_celery_is_retried_and_succeeds_once_it_is_back(
    deployment: EsDeployment, proxy: TcpProxy, client: httpx.Client
) -> None:
    counts, served = kb_counts(client), alias_targets(deployment)
    assert len(served) == 1
    write_corpus(deployment.sources / KB, DOCUMENTS, marker="pangolin")
    proxy.stop_on(b"/_bulk")
    try:
        job_id = client.post(f"/admin/kbs/{KB}/reindex", headers=AUTH).json()["job"]["id"]
        assert proxy.tripped.wait(JOB_TIMEOUT_S), "the re-index never sent a bulk request"
        cut_at = time.monotonic()
        wait_for_log(deployment, f"Task supportbot.reindex_kb[{job_id}] retry:", 60)
        waiting = client.get(f"/admin/jobs/{job_id}", headers=AUTH).json()
    finally:
        proxy.restore()
    restored_at = time.monotonic()

    assert waiting["state"] in ("queued", "running"), waiting
    if waiting["state"] == "queued":  # between two tries (a try may be under way instead)
        assert waiting["error"].startswith("retrying after: backend_unavailable: "), waiting
    assert alias_targets(deployment) == served, "the old index still serves"
    assert hits(client, "pangolin") == []
    done = wait_job(client, job_id, timeout_s=JOB_TIMEOUT_S)
    log = deployment.worker.log()
    assert done["state"] == "succeeded", (done, log[-3000:])
    assert "retrying after: backend_unavailable" not in str(done.get("error"))
    assert "BackendUnavailable" in log and "unreachable" in log, log[-3000:]
    assert hits(client, "pangolin") == ["topic-000.md"] and kb_counts(client) == counts
    new = alias_targets(deployment)
    assert len(new) == 1 and new != served
    deadline = time.monotonic() + 30
    while list(deployment.served_indices()) != new:  # the old and the half-built retired
        assert time.monotonic() < deadline, deployment.served_indices()
        time.sleep(0.2)
    print(
        f"\nES lost mid-bulk under Celery: retry logged {restored_at - cut_at:.2f}s after the "
        f"cut; job succeeded {time.monotonic() - restored_at:.1f}s after the node came back"
    )


READ_ONLY = "index.blocks.read_only_allow_delete"
BLOCKED_FAIL_BOUND_S = 30.0
"""One try: the bulk helper's own retries of the refused (HTTP 429) items, 0.5 + 1 + 2 + 4 s,
then the failure; the rest is slack for a loaded machine (with Celery's retries: ~40 s)."""


def test_flood_stage_block_under_celery_fails_ingest_clearly_search_serves_and_recovers(
    deployment: EsDeployment, client: httpx.Client
) -> None:
    indices = f"{deployment.prefix}-*"
    counts = kb_counts(client)
    write_corpus(deployment.sources / KB, DOCUMENTS, marker="quokka")
    try:
        deployment.es.indices.put_settings(index=indices, settings={READ_ONLY: True})
        started = time.monotonic()
        job_id = client.post(f"/admin/kbs/{KB}/ingest", headers=AUTH).json()["job"]["id"]
        failed = wait_job(client, job_id, timeout_s=JOB_TIMEOUT_S)
        failed_s = time.monotonic() - started
        search = client.post("/v1/search", json={"kb": KB, "query": "topic guide"})
    finally:
        deployment.es.indices.put_settings(index=indices, settings={READ_ONLY: None})

    log = deployment.worker.log()
    assert failed["state"] == "failed", (failed, log[-3000:])
    error = failed["error"]
    assert error.startswith("index_read_only: Elasticsearch at "), error
    assert "flood-stage watermark" in error and "Free disk space" in error, error
    assert "run the job again" in error and "Searches are still answered" in error, error
    assert f"Task supportbot.ingest_source[{job_id}] retry:" not in log, "failed, not retried"
    assert failed_s < BLOCKED_FAIL_BOUND_S, f"the blocked ingest took {failed_s:.1f}s to fail"
    assert search.status_code == 200 and search.json()["results"], "search keeps serving"
    assert hits(client, "quokka") == [] and kb_counts(client) == counts

    recovered = wait_job(
        client,
        client.post(f"/admin/kbs/{KB}/ingest", headers=AUTH).json()["job"]["id"],
        timeout_s=JOB_TIMEOUT_S,
    )
    assert recovered["state"] == "succeeded", (recovered, deployment.worker.log()[-3000:])
    assert recovered["result"]["updated"] == 1 and recovered["result"]["failed_count"] == 0
    assert hits(client, "quokka") == ["topic-000.md"] and kb_counts(client) == counts
    print(f"\nflood-stage block under Celery: ingest failed in {failed_s:.1f}s, not retried")
