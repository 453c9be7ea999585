"""One API host and one Celery worker sharing a data directory and a redis-server: the
deployment the worker tests drive through the admin API."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx

from bot.api.app import create_app
from bot.settings import Settings
from tests.support.admin_client import ADMIN_KEY, AUTH, register_folder, wait_job
from tests.support.celery_worker import CeleryWorker
from tests.support.kb_corpus import write_corpus
from tests.support.live_server import serve
from tests.support.redis_fixtures import RedisServer, started_redis

KB = "acme"
DOCUMENTS = 120
"""Enough one-chunk articles that a rebuild spends seconds embedding, for the kill and cancel
tests to act in the middle of it."""
VISIBILITY_TIMEOUT_S = 20
"""Longer than any job here takes, or the broker would redeliver tasks still running."""


class Deployment:
    """One API server and the current worker; tests may replace a killed worker."""

    def __init__(
        self, root: Path, redis: RedisServer, extra_env: Mapping[str, str] | None = None
    ) -> None:
        self.root = root
        self.redis = redis
        self.sources = root / "sources"
        self.env = {
            "SUPPORTBOT_DATA_DIR": str(root / "data"),
            "SUPPORTBOT_REDIS_URL": redis.url,
            "SUPPORTBOT_CELERY_BROKER_URL": redis.url,
            "SUPPORTBOT_RERANKER": "none",
            "SUPPORTBOT_EMBEDDING_BATCH_SIZE": "4",
            # The kill and cancel tests act on a rebuild while it embeds; fp32 keeps that
            # phase a few seconds long (torch: OpenVINO would finish it at once).
            "SUPPORTBOT_EMBEDDING_PRECISION": "fp32",
            "SUPPORTBOT_EMBEDDING_RUNTIME": "torch",
            "SUPPORTBOT_CELERY_VISIBILITY_TIMEOUT_S": str(VISIBILITY_TIMEOUT_S),
            "SUPPORTBOT_RESYNC_INTERVAL_S": "0",
            "SUPPORTBOT_SOURCES_ROOT": str(self.sources),
            **(extra_env or {}),
        }
        self.workers = 0
        self.worker = self.new_worker()

    def settings(self) -> Settings:
        values = {k.removeprefix("SUPPORTBOT_").lower(): v for k, v in self.env.items()}
        return Settings(_env_file=None, admin_api_key=ADMIN_KEY, **values)  # type: ignore[arg-type]

    def new_worker(self) -> CeleryWorker:
        self.workers += 1
        worker = CeleryWorker(f"worker{self.workers}", self.env, self.root / "workers")
        worker.start()
        return worker

    def ensure_worker(self) -> CeleryWorker:
        if not self.worker.alive:
            self.worker = self.new_worker()
        return self.worker


def hits(client: httpx.Client, word: str) -> list[str]:
    response = client.post(
        "/v1/search", json={"kb": KB, "query": word, "mode": "bm25"}, headers=AUTH
    )
    assert response.status_code == 200, response.text
    return [r["source_id"] for r in response.json()["results"]]


def kb_counts(client: httpx.Client) -> tuple[int, int]:
    detail = client.get(f"/admin/kbs/{KB}", headers=AUTH).json()
    return detail["documents"], detail["chunks"]


@contextmanager
def running_deployment(root: Path, documents: int) -> Iterator[Deployment]:
    """A private Redis, `documents` articles under `root`, and the deployment serving them;
    the worker and Redis are stopped after."""
    with started_redis() as redis:
        write_corpus(root / "sources" / KB, documents)
        deployment = Deployment(root, redis)
        try:
            yield deployment
        finally:
            deployment.worker.stop()


@contextmanager
def api_client(deployment: Deployment, documents: int) -> Iterator[httpx.Client]:
    """The API host, serving; the KB created, its source registered and ingested by the worker."""
    with (
        serve(create_app(deployment.settings())) as url,
        httpx.Client(base_url=url, timeout=60) as c,
    ):
        first = wait_job(c, register_folder(c, KB, KB))
        assert first["state"] == "succeeded", (first, deployment.worker.log()[-3000:])
        assert first["result"]["new"] == documents
        yield c
