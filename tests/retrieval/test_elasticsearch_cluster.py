"""Failure drills on a private 3-node cluster: a node dies, then the whole cluster does.

The cluster is real (three Elasticsearch JVMs started by deploy/elasticsearch/run-local on
free ports, separate from the shared test node), so these tests are slow by nature: one
start of three nodes and one restart, about a minute each on two cores.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from bot.api.app import create_app
from bot.embedding.sentence_transformer import SentenceTransformerEmbedder
from bot.errors import BackendUnavailable
from bot.retrieval.elasticsearch.search import ElasticsearchSearch
from bot.settings import Settings
from tests.support.es_fixtures import LocalCluster, drop_indices
from tests.support.live_server import serve
from tests.support.search_contract import INFO, make_document, source_ids, vector_for

pytestmark = [pytest.mark.elasticsearch, pytest.mark.timeout(900)]

ARTICLES = {
    "mute-topic": "Mute a topic to stop receiving notifications about that conversation.",
    "avatar": "Upload a new profile picture from your personal settings page.",
    "billing": "Change your plan or update the credit card used for payments.",
}


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    local = LocalCluster(nodes=3, heap="512m").start()
    print(f"3-node cluster started in {local.start_seconds:.1f}s")
    try:
        yield local
    finally:
        local.stop(clean=True)


@pytest.fixture
async def replicated(cluster: LocalCluster) -> AsyncIterator[ElasticsearchSearch]:
    """A backend that knows all three nodes and keeps one replica of every KB."""
    prefix = f"ha-{uuid.uuid4().hex[:8]}"
    search = ElasticsearchSearch(",".join(cluster.urls), index_prefix=prefix, replicas=1)
    try:
        yield search
    finally:
        if await search.ping():
            await drop_indices(search, prefix)
        await search.close()


async def test_one_replica_keeps_queries_answered_when_a_node_stops(
    cluster: LocalCluster, replicated: ElasticsearchSearch
) -> None:
    kb = "ha"
    await replicated.ensure_kb(kb, INFO)
    documents = [make_document(kb, f"doc-{i}", f"walrus fact {i}") for i in range(10)]
    assert not (await replicated.upsert_documents(kb, documents)).failed
    alias = replicated.indexes.names(kb).alias
    health = await replicated.client.cluster.health(
        index=alias, wait_for_status="green", timeout="60s"
    )
    assert health["status"] == "green"
    expected_bm25 = source_ids(await replicated.bm25(kb, "walrus", 20))
    expected_knn = source_ids(await replicated.knn(kb, vector_for("walrus fact 3"), 5, INFO))

    # Stop the node that holds the primary: its replica must take over.
    shards = await replicated.client.cat.shards(index=alias, format="json")
    rows: list[dict[str, str]] = shards.body  # type: ignore[assignment]  # cat API with format=json
    primary_node = next(row["node"] for row in rows if row["prirep"] == "p")
    cluster.stop_node(int(primary_node.removeprefix("node-")))

    failures: list[BaseException] = []
    for _ in range(20):
        try:
            assert source_ids(await replicated.bm25(kb, "walrus", 20)) == expected_bm25
            hits = await replicated.knn(kb, vector_for("walrus fact 3"), 5, INFO)
            assert source_ids(hits) == expected_knn
        except BackendUnavailable as exc:
            failures.append(exc)
    assert failures == []
    assert await replicated.ping() is True  # yellow: degraded but serving
    assert (await replicated.stats(kb)).chunks == 10


@pytest.fixture
def api_settings(cluster: LocalCluster, tmp_path: Path) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        data_dir=tmp_path / "data",
        reranker="none",
        search_backend="elasticsearch",
        elasticsearch_url=",".join(cluster.urls),
        elasticsearch_index_prefix=f"api-{uuid.uuid4().hex[:8]}",
        elasticsearch_timeout_s=2.0,
    )


async def index_articles(settings: Settings, embedder: SentenceTransformerEmbedder) -> None:
    assert settings.elasticsearch_url is not None
    search = ElasticsearchSearch(
        settings.elasticsearch_url, index_prefix=settings.elasticsearch_index_prefix
    )
    try:
        info = embedder.index_info()
        await search.ensure_kb("help", info)
        vectors = embedder.embed_documents(list(ARTICLES.values()))
        documents = [
            make_document("help", sid, text, vectors=[vector])
            for (sid, text), vector in zip(ARTICLES.items(), vectors, strict=True)
        ]
        assert not (await search.upsert_documents("help", documents)).failed
    finally:
        await search.close()


async def test_api_answers_503_while_elasticsearch_is_down_and_recovers(
    cluster: LocalCluster, api_settings: Settings, embedder: SentenceTransformerEmbedder
) -> None:
    cluster.start()  # whatever an earlier drill stopped comes back first (no-op otherwise)
    await index_articles(api_settings, embedder)
    question = {"kb": "help", "query": "how do I silence a noisy thread", "rerank": False}
    with serve(create_app(api_settings)) as base_url, httpx.Client(base_url=base_url) as http:
        answered = http.post("/v1/search", json=question, timeout=30)
        assert answered.status_code == 200, answered.text
        expected = [hit["chunk_id"] for hit in answered.json()["results"]]
        assert expected[0] == "help:mute-topic#0"

        cluster.stop()
        started = time.perf_counter()
        down = http.post("/v1/search", json=question, timeout=30)
        elapsed = time.perf_counter() - started
        assert down.status_code == 503
        assert down.json()["error"]["code"] == "backend_unavailable"
        assert int(down.headers["Retry-After"]) > 0
        assert elapsed < 5  # fails fast: no hanging on a dead cluster
        ready = http.get("/readyz", timeout=30)
        assert ready.status_code == 503 and ready.json()["ready"] is False

        cluster.start()  # same data directories: the KB survives the restart
        # The same app process recovers by itself once the shards are back (the first
        # queries on a cold JVM may still time out while its shards recover).
        recovered = poll_until_ok(http, question, deadline_s=120)
        assert [hit["chunk_id"] for hit in recovered.json()["results"]] == expected
        assert http.get("/readyz", timeout=30).json()["ready"] is True


def poll_until_ok(
    http: httpx.Client, question: dict[str, object], deadline_s: float
) -> httpx.Response:
    deadline = time.monotonic() + deadline_s
    while True:
        response = http.post("/v1/search", json=question, timeout=30)
        if response.status_code == 200 or time.monotonic() > deadline:
            assert response.status_code == 200, response.text
            return response
        assert response.status_code == 503, response.text  # unavailable, never a 500
        time.sleep(1)
