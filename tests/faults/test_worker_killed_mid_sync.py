"""Fault drill: the process running a connector sync (a Git source) is SIGKILLed mid-run.

A real Celery worker syncs a KB from a local bare Git repository (tests/support/git_repo.py);
the test kills the worker's pool process while the sync embeds the changed articles. What
the code promises (bot/jobs/celery_config.py: `acks_late` + `task_reject_on_worker_lost`;
the sync is incremental and idempotent, see bot/jobs/work.py): the task is delivered again
and the sync completes; no document of the KB is lost meanwhile, nothing is duplicated, and
the next sync finds nothing left to do. The same drill for a folder re-index is
tests/faults/test_worker_killed.py.

A second drill kills it earlier, during the fetch: the repository is served over git://
(`git daemon`) through a proxy that stops answering the fetch once it has asked for the new
commit, so the kill lands while `git fetch` waits on the pack. The old content serves
meanwhile, the redelivered run fetches again (a fresh connection) and succeeds, and the next
sync finds nothing to do. The killed run's `git fetch` is orphaned, not killed (it waits on
its stalled connection until the proxy closes); it holds no lock that stops the rerun.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bot.api.app import create_app
from tests.faults.test_worker_killed import DOCUMENTS, wait_for_a_run_embedding
from tests.support.admin_client import AUTH, wait_job
from tests.support.celery_deployment import Deployment
from tests.support.git_repo import GitDaemon, GitRemote
from tests.support.kb_corpus import article
from tests.support.live_server import serve
from tests.support.redis_fixtures import started_redis
from tests.support.tcp_proxy import TcpProxy

pytestmark = [pytest.mark.celery, pytest.mark.redis, pytest.mark.model]

KB = "gitdocs"
JOB_TIMEOUT_S = 180.0
TOP_K = 50
"""The most results a search returns (fewer than DOCUMENTS)."""


def articles(marker: str | None = None) -> dict[str, str | None]:
    """The repository's help folder: DOCUMENTS one-chunk articles, each naming `marker`."""
    return {f"help/topic-{i:03d}.md": article(i, marker=marker) for i in range(DOCUMENTS)}


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    root = tmp_path_factory.mktemp("sync-killed")
    (root / "sources").mkdir()
    with started_redis() as redis:
        deployment = Deployment(root, redis)
        try:
            yield deployment
        finally:
            deployment.worker.stop()


def bm25(client: httpx.Client, word: str, kb: str = KB) -> list[str]:
    response = client.post(
        "/v1/search", json={"kb": kb, "query": word, "mode": "bm25", "top_k": TOP_K}
    )
    assert response.status_code == 200, response.text
    return sorted(r["source_id"] for r in response.json()["results"])


def counts(client: httpx.Client, kb: str = KB) -> tuple[int, int]:
    detail = client.get(f"/admin/kbs/{kb}", headers=AUTH).json()
    return detail["documents"], detail["chunks"]


def test_pool_process_killed_mid_sync_is_redelivered_completes_and_loses_nothing(
    deployment: Deployment, tmp_path: Path
) -> None:
    remote = GitRemote(tmp_path / "git")
    remote.commit(articles())
    body = {"type": "git", "options": {"url": str(remote.bare), "folder": "help"}}
    worker = deployment.worker
    with (
        serve(create_app(deployment.settings()), startup_timeout_s=300) as url,
        httpx.Client(base_url=url, timeout=60) as client,
    ):
        assert client.post("/admin/kbs", json={"kb": KB}, headers=AUTH).status_code == 201
        connected = client.put(f"/admin/kbs/{KB}/source", json=body, headers=AUTH)
        assert connected.status_code == 202, connected.text
        first = wait_job(client, connected.json()["job"]["id"], timeout_s=JOB_TIMEOUT_S)
        assert first["state"] == "succeeded", (first, worker.log()[-3000:])
        assert first["result"]["new"] == DOCUMENTS
        before = counts(client)
        assert before == (DOCUMENTS, DOCUMENTS)

        remote.commit(articles(marker="okapi"))  # every article changed: seconds of embedding
        submitted = client.post(f"/admin/kbs/{KB}/ingest", headers=AUTH)
        assert submitted.status_code == 202, submitted.text
        job_id = submitted.json()["job"]["id"]
        wait_for_a_run_embedding(client, job_id, since=0.0)
        killed = worker.kill_pool_child()
        killed_at = time.monotonic()
        assert counts(client)[0] == DOCUMENTS, "no document lost to the kill"

        done = wait_job(client, job_id, timeout_s=JOB_TIMEOUT_S)
        finished_s = time.monotonic() - killed_at
        log = worker.log()
        assert done["state"] == "succeeded", (done, log[-3000:])
        assert done["result"]["failed_count"] == 0, done
        assert worker.alive and killed not in worker.pool_children(), "same worker, new process"
        assert "WorkerLostError" in log, "the worker noticed its process die"
        assert log.count(f"Task supportbot.sync_source[{job_id}] succeeded") == 1, log[-3000:]
        # The rerun replaced what the killed run had not: every article, once.
        assert counts(client) == before, "nothing duplicated"
        assert len(bm25(client, "okapi")) == TOP_K, "the new versions serve"

        again = client.post(f"/admin/kbs/{KB}/ingest", headers=AUTH).json()["job"]["id"]
        retried = wait_job(client, again, timeout_s=JOB_TIMEOUT_S)
        assert retried["state"] == "succeeded", (retried, worker.log()[-3000:])
        assert (retried["result"]["unchanged"], retried["result"]["updated"]) == (DOCUMENTS, 0)
        history = client.get(f"/admin/kbs/{KB}", headers=AUTH).json()["sync_history"]
        assert [run["status"] for run in history] == ["succeeded"] * 3, history
    print(f"\nsync process killed: job succeeded {finished_s:.1f}s later; next sync: no-op")


FETCH_KB = "gitnet"
FETCH_DOCUMENTS = 10


def test_pool_process_killed_mid_fetch_keeps_old_content_serving_and_syncs_after(
    deployment: Deployment, tmp_path: Path
) -> None:
    """The kill strikes while `git fetch` waits on the remote: the repository is served by
    `git daemon` through a proxy that stops answering the fetch once it has asked for the
    new commit (tests/support/tcp_proxy.py `stall_on`), so the kill lands mid-transfer."""
    remote = GitRemote(tmp_path / "git")
    remote.commit({f"help/topic-{i:03d}.md": article(i) for i in range(FETCH_DOCUMENTS)})
    worker = deployment.worker
    with (
        GitDaemon(tmp_path / "git") as daemon,
        TcpProxy("127.0.0.1", daemon.port) as proxy,
        serve(create_app(deployment.settings()), startup_timeout_s=300) as url,
        httpx.Client(base_url=url, timeout=60) as client,
    ):
        repo = f"git://127.0.0.1:{proxy.port}/{remote.bare.name}"
        body = {"type": "git", "options": {"url": repo, "folder": "help"}}
        assert client.post("/admin/kbs", json={"kb": FETCH_KB}, headers=AUTH).status_code == 201
        connected = client.put(f"/admin/kbs/{FETCH_KB}/source", json=body, headers=AUTH)
        assert connected.status_code == 202, connected.text
        first = wait_job(client, connected.json()["job"]["id"], timeout_s=JOB_TIMEOUT_S)
        assert first["state"] == "succeeded", (first, worker.log()[-3000:])
        before = counts(client, FETCH_KB)
        assert before == (FETCH_DOCUMENTS, FETCH_DOCUMENTS)

        remote.commit({f"help/topic-{i:03d}.md": article(i, marker="okapi")
                       for i in range(FETCH_DOCUMENTS)})  # fmt: skip
        proxy.stall_on(b"want ")
        submitted = client.post(f"/admin/kbs/{FETCH_KB}/ingest", headers=AUTH)
        assert submitted.status_code == 202, submitted.text
        job_id = submitted.json()["job"]["id"]
        assert proxy.stalled.wait(JOB_TIMEOUT_S), "the sync never asked the remote for a pack"
        killed = worker.kill_pool_child()
        killed_at = time.monotonic()
        assert counts(client, FETCH_KB) == before, "nothing lost to the kill"
        assert bm25(client, "topic", FETCH_KB), "the old content keeps serving"

        done = wait_job(client, job_id, timeout_s=JOB_TIMEOUT_S)
        finished_s = time.monotonic() - killed_at
        log = worker.log()
        assert done["state"] == "succeeded", (done, log[-3000:])
        assert worker.alive and killed not in worker.pool_children(), "same worker, new process"
        assert f"job {job_id}: run 2; its worker process died 1 times" in log, log[-3000:]
        assert counts(client, FETCH_KB) == before, "nothing duplicated"
        assert len(bm25(client, "okapi", FETCH_KB)) == FETCH_DOCUMENTS, "the new versions serve"

        again = client.post(f"/admin/kbs/{FETCH_KB}/ingest", headers=AUTH).json()["job"]["id"]
        retried = wait_job(client, again, timeout_s=JOB_TIMEOUT_S)
        assert retried["state"] == "succeeded", (retried, worker.log()[-3000:])
        assert (retried["result"]["unchanged"], retried["result"]["updated"]) == (
            FETCH_DOCUMENTS, 0,
        )  # fmt: skip
    print(f"\nfetch process killed: job {done['state']} {finished_s:.1f}s later; next sync: no-op")
