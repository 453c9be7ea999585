"""A re-index run by a real Celery worker on Elasticsearch: the alias swaps at the end.

The API host and the worker share Redis (broker, job state) and an Elasticsearch node; the
worker builds a new index while the API keeps answering from the one the alias names, then
swaps the alias atomically and retires the old index.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from elasticsearch import Elasticsearch

from tests.support.admin_client import AUTH
from tests.support.celery_deployment import KB, Deployment, api_client, hits, kb_counts
from tests.support.es_fixtures import elasticsearch_url  # noqa: F401 - fixture
from tests.support.kb_corpus import write_corpus
from tests.support.redis_fixtures import RedisServer

pytestmark = [pytest.mark.celery, pytest.mark.redis, pytest.mark.elasticsearch, pytest.mark.model]

DOCUMENTS = 60


class EsDeployment(Deployment):
    def __init__(self, root: Path, redis: RedisServer, url: str, prefix: str) -> None:
        self.es = Elasticsearch(url)
        self.prefix = prefix
        super().__init__(
            root,
            redis,
            {
                "SUPPORTBOT_SEARCH_BACKEND": "elasticsearch",
                "SUPPORTBOT_ELASTICSEARCH_URL": url,
                "SUPPORTBOT_ELASTICSEARCH_INDEX_PREFIX": prefix,
            },
        )

    def served_indices(self) -> dict[str, list[str]]:
        """Index name → its aliases, for this deployment's indices."""
        found = self.es.indices.get_alias(index=f"{self.prefix}-*")
        return {name: sorted(body["aliases"]) for name, body in found.body.items()}


@pytest.fixture(scope="module")
def deployment(
    tmp_path_factory: pytest.TempPathFactory,
    elasticsearch_url: str,  # noqa: F811
) -> Iterator[EsDeployment]:
    redis = RedisServer()
    redis.start()
    root = tmp_path_factory.mktemp("celery-es")
    write_corpus(root / "sources" / KB, DOCUMENTS)
    prefix = f"test-{uuid.uuid4().hex[:10]}"
    deployment = EsDeployment(root, redis, elasticsearch_url, prefix)
    try:
        yield deployment
    finally:
        deployment.worker.stop()
        redis.cleanup()
        names = list(deployment.served_indices())
        if names:  # wildcard deletes are refused (action.destructive_requires_name)
            deployment.es.indices.delete(index=",".join(names))
        deployment.es.close()


@pytest.fixture(scope="module")
def client(deployment: EsDeployment) -> Iterator[httpx.Client]:
    with api_client(deployment, DOCUMENTS) as c:
        yield c


def test_worker_reindex_swaps_the_alias_and_retires_the_old_index(
    deployment: EsDeployment, client: httpx.Client
) -> None:
    before = deployment.served_indices()
    assert len(before) == 1, before
    (old_index,) = before
    counts = kb_counts(client)
    write_corpus(deployment.sources / KB, DOCUMENTS, marker="narwhalberry")

    job_id = client.post(f"/admin/kbs/{KB}/reindex", headers=AUTH).json()["job"]["id"]
    built_aside = served_old = False
    deadline = time.monotonic() + 300
    while (job := client.get(f"/admin/jobs/{job_id}", headers=AUTH).json())["state"] in (
        "queued",
        "running",
    ):
        assert time.monotonic() < deadline, f"re-index did not finish: {job}"
        if job["state"] == "running":
            indices = deployment.served_indices()
            building = [
                name
                for name, aliases in indices.items()
                if name != old_index and not set(aliases) & set(before[old_index])
            ]
            built_aside |= bool(building) and indices.get(old_index) == before[old_index]
            served_old |= hits(client, "narwhalberry") == []
        time.sleep(0.05)

    assert job["state"] == "succeeded", (job, deployment.worker.log()[-3000:])
    assert built_aside, "the worker built a second index while the alias named the old one"
    assert served_old, "the API answered from the old index during the rebuild"
    assert hits(client, "narwhalberry") == ["topic-000.md"]
    assert kb_counts(client) == counts
    deadline = time.monotonic() + 30
    while old_index in (after := deployment.served_indices()):
        assert time.monotonic() < deadline, f"the old index was never retired: {after}"
        time.sleep(0.2)
    (new_index,) = after
    assert after[new_index] == before[old_index]  # the same alias(es), now on the new index
