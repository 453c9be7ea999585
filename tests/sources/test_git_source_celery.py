"""A Git source on the real Celery deployment: the sync job runs on a `celery worker`
process, and `celery beat` alone triggers the next sync once the source's interval passed."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bot.api.app import create_app
from bot.sources.connected import ConnectedSources
from tests.support.admin_client import AUTH, wait_job
from tests.support.celery_deployment import Deployment
from tests.support.celery_worker import CeleryBeat
from tests.support.git_repo import GitRemote
from tests.support.live_server import serve
from tests.support.redis_fixtures import RedisServer

pytestmark = [pytest.mark.celery, pytest.mark.redis, pytest.mark.model]
KB = "gitdocs"


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    redis = RedisServer()
    redis.start()
    root = tmp_path_factory.mktemp("git-celery")
    (root / "sources").mkdir()
    deployment = Deployment(root, redis, {"SUPPORTBOT_SOURCE_SCHEDULE_TICK_S": "1"})
    try:
        yield deployment
    finally:
        deployment.worker.stop()
        redis.cleanup()


def test_the_worker_syncs_a_git_source_and_beat_syncs_it_again_when_due(
    deployment: Deployment, tmp_path: Path
) -> None:
    remote = GitRemote(tmp_path / "git")
    remote.commit({"help/refunds.md": "# Refunds\n\nRefunds take ten days.\n",
                   "help/login.md": "# Log in\n\nUse the login page.\n"})  # fmt: skip
    body = {"type": "git", "options": {"url": str(remote.bare), "folder": "help"},
            "interval_s": 3600}  # fmt: skip
    with (
        serve(create_app(deployment.settings()), startup_timeout_s=300) as url,
        httpx.Client(base_url=url, timeout=60) as client,
    ):
        assert client.post("/admin/kbs", json={"kb": KB}, headers=AUTH).status_code == 201
        response = client.put(f"/admin/kbs/{KB}/source", json=body, headers=AUTH)
        assert response.status_code == 202, response.text
        job = wait_job(client, response.json()["job"]["id"], timeout_s=300)
        assert job["state"] == "succeeded", (job, deployment.worker.log()[-3000:])
        assert job["result"]["new"] == 2

        remote.commit({"help/login.md": "# Log in\n\nUse single sign-on.\n"})
        sources = ConnectedSources(Path(deployment.env["SUPPORTBOT_DATA_DIR"]) / "sources.sqlite")
        sources.mark_attempt(KB, time.time() - 3601)  # an hour has passed
        beat = CeleryBeat(deployment.worker)
        beat.start()
        try:
            deadline = time.monotonic() + 180
            while len(history := sources.history(KB)) < 2:
                assert time.monotonic() < deadline, (
                    beat.log()[-2000:],
                    deployment.worker.log()[-2000:],
                )
                time.sleep(0.5)
        finally:
            beat.stop()
        assert history[0].status == "succeeded"
        assert (history[0].counts["updated"], history[0].counts["unchanged"]) == (1, 1)
        detail = client.get(f"/admin/kbs/{KB}", headers=AUTH).json()
        assert [run["status"] for run in detail["sync_history"]] == ["succeeded", "succeeded"]
        # Synced just now: further beat ticks leave it alone until the interval passes.
        assert len(sources.history(KB)) == 2
