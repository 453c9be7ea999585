"""Fault drills: Elasticsearch fails while a knowledge base is being written.

Two faults, each on the shared test node, against the real app (in-process job runner):

* the node goes away in the middle of a re-index's bulk write (the TCP proxy of
  tests/support/tcp_proxy.py cuts the connection the moment a `/_bulk` request passes);
* the node's disk passes the flood-stage watermark (the cluster's disk watermarks are set,
  in absolute bytes, above the disk's size, so Elasticsearch itself puts a
  read_only_allow_delete block on the indices, as on a full disk).

What the code promises: the job fails with a reason that says what happened and what to do
(`backend_unavailable: ... unreachable ...`, `index_read_only: ... flood-stage ... Free
disk space ...`; under Celery the first is retried with backoff, the second fails at once,
see workers/tasks.py and tests/faults/test_elasticsearch_lost_under_celery.py); the
index that served before keeps serving, and no half-built index becomes the KB's alias
target; once the fault clears, the same job succeeds.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from elasticsearch import Elasticsearch

from bot.api.app import create_app
from bot.errors import BackendUnavailable
from bot.retrieval.elasticsearch.search import ElasticsearchSearch
from tests.support.admin_client import AUTH, admin_settings, register_folder, wait_job
from tests.support.celery_deployment import KB, hits, kb_counts
from tests.support.es_fixtures import elasticsearch_url  # noqa: F401
from tests.support.kb_corpus import write_corpus
from tests.support.live_server import serve
from tests.support.search_contract import INFO, make_document
from tests.support.tcp_proxy import TcpProxy

pytestmark = [pytest.mark.elasticsearch, pytest.mark.model]

DOCUMENTS = 20
JOB_TIMEOUT_S = 120.0
BLOCK_TIMEOUT_S = 60.0
"""Elasticsearch checks disk use every `cluster.info.update.interval` (10 s at the least;
the interval it had, 30 s, runs out first): 26 s here on a quiet machine."""
WATERMARKS = (
    "cluster.routing.allocation.disk.threshold_enabled",
    "cluster.routing.allocation.disk.watermark.low",
    "cluster.routing.allocation.disk.watermark.high",
    "cluster.routing.allocation.disk.watermark.flood_stage",
    "cluster.info.update.interval",
)
READ_ONLY = "index.blocks.read_only_allow_delete"


class Writes:
    """The app serving one KB from the shared node through a proxy, and a direct client."""

    def __init__(self, client: httpx.Client, es: Elasticsearch, prefix: str, sources: Path):
        self.client = client
        self.es = es
        self.prefix = prefix
        self.sources = sources

    @property
    def alias(self) -> str:
        return f"{self.prefix}-kb-{KB}"

    def indices(self) -> dict[str, list[str]]:
        """This KB's physical indices → their aliases."""
        found = self.es.indices.get_alias(index=f"{self.alias}.*")
        return {name: sorted(body["aliases"]) for name, body in found.body.items()}

    def served_by(self) -> list[str]:
        return sorted(name for name, aliases in self.indices().items() if self.alias in aliases)

    def submit(self, action: str) -> str:
        response = self.client.post(f"/admin/kbs/{KB}/{action}", headers=AUTH)
        assert response.status_code == 202, response.text
        return str(response.json()["job"]["id"])

    def run(self, action: str) -> dict[str, Any]:
        return wait_job(self.client, self.submit(action), timeout_s=JOB_TIMEOUT_S)


@pytest.fixture(scope="module")
def proxy(elasticsearch_url: str) -> Iterator[TcpProxy]:  # noqa: F811
    with TcpProxy.to(elasticsearch_url) as running:
        yield running


@pytest.fixture(scope="module")
def writes(
    proxy: TcpProxy,
    elasticsearch_url: str,  # noqa: F811
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Writes]:
    root = tmp_path_factory.mktemp("es-writes")
    prefix = f"drill-{uuid.uuid4().hex[:8]}"
    settings = admin_settings(
        root,
        search_backend="elasticsearch",
        elasticsearch_url=proxy.url,
        elasticsearch_index_prefix=prefix,
        elasticsearch_timeout_s=2.0,
        rate_limit_per_minute=100_000.0,
        rate_limit_burst=10_000,
    )
    write_corpus(root / "sources" / KB, DOCUMENTS)
    es = Elasticsearch(elasticsearch_url, request_timeout=30)
    try:
        with (
            serve(create_app(settings), startup_timeout_s=300) as url,
            httpx.Client(base_url=url, timeout=60) as client,
        ):
            first = wait_job(client, register_folder(client, KB, KB), timeout_s=JOB_TIMEOUT_S)
            assert first["state"] == "succeeded" and first["result"]["new"] == DOCUMENTS, first
            yield Writes(client, es, prefix, root / "sources" / KB)
    finally:
        for index in es.indices.get_alias(index=f"{prefix}-*").body:
            es.options(ignore_status=404).indices.delete(index=index)
        es.close()


def wait_until(what: str, check: Any, timeout_s: float) -> float:
    """Seconds until `check()` is true; fails naming `what` after `timeout_s`."""
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < timeout_s, f"waited {timeout_s:.0f}s for {what}"
        time.sleep(0.1)
    return time.monotonic() - started


def test_node_lost_mid_bulk_fails_the_reindex_and_the_old_index_keeps_serving(
    writes: Writes, proxy: TcpProxy
) -> None:
    counts, served = kb_counts(writes.client), writes.served_by()
    assert len(served) == 1
    write_corpus(writes.sources, DOCUMENTS, marker="zeppelin")
    proxy.stop_on(b"/_bulk")
    try:
        job_id = writes.submit("reindex")
        assert proxy.tripped.wait(JOB_TIMEOUT_S), "the re-index never sent a bulk request"
        cut_at = time.monotonic()
        failed = wait_job(writes.client, job_id, timeout_s=JOB_TIMEOUT_S)
        failed_s = time.monotonic() - cut_at
        during = writes.client.post("/v1/search", json={"kb": KB, "query": "zeppelin"})
    finally:
        proxy.restore()

    assert failed["state"] == "failed", failed
    error = failed["error"]
    assert error.startswith("backend_unavailable: Elasticsearch at "), error
    assert "unreachable" in error and f"writing the rebuild of KB {KB!r}" in error, error
    assert "start it" in error, "says what to do"
    assert during.status_code == 503 and int(during.headers["retry-after"]) >= 1, during.text
    # Back: the old index answers, alone behind the alias; the half-built one is not served.
    assert writes.served_by() == served
    assert hits(writes.client, "zeppelin") == [] and kb_counts(writes.client) == counts

    again = writes.run("reindex")
    assert again["state"] == "succeeded", again
    assert hits(writes.client, "zeppelin") == ["topic-000.md"]
    assert kb_counts(writes.client) == counts
    new = writes.served_by()
    assert len(new) == 1 and new != served
    # The next rebuild dropped the half-built index; the old one retires after its grace.
    wait_until("only the new index to remain", lambda: list(writes.indices()) == new, 20)
    print(f"\nES lost mid-bulk: re-index failed {failed_s:.2f}s after the cut; retry succeeded")


async def test_a_rebuild_write_whose_only_bulk_is_cut_raises_and_is_never_swapped_in(
    proxy: TcpProxy,
    elasticsearch_url: str,  # noqa: F811
) -> None:
    """The case the job-level drill may not reach: the cut strikes the last (here, the only)
    bulk of a rebuild, so no later call notices the outage. Reporting each document as
    failed would let a rebuild of new documents be swapped in without them."""
    prefix = f"drill-{uuid.uuid4().hex[:8]}"
    search = ElasticsearchSearch(proxy.url, index_prefix=prefix, timeout_s=2.0)
    direct = ElasticsearchSearch(elasticsearch_url, index_prefix=prefix)
    documents = [make_document("one", f"doc-{i}.md", f"article {i} body") for i in range(5)]
    try:
        await search.ensure_kb("one", INFO)
        assert not (await search.upsert_documents("one", documents[:2])).failed
        build = await search.begin_rebuild("one", INFO)
        proxy.stop_on(b"/_bulk")
        try:
            with pytest.raises(BackendUnavailable, match="unreachable") as raised:
                await build.write(documents)
        finally:
            proxy.restore()
        assert "writing the rebuild of KB 'one'" in raised.value.message
        await build.abort()
        stats = await direct.stats("one")
        assert (stats.documents, stats.chunks) == (2, 2), "the served index, untouched"
    finally:
        await search.close()
        found = await direct.client.indices.get_alias(index=f"{prefix}-*")
        for index in found.body:
            await direct.client.options(ignore_status=404).indices.delete(index=index)
        await direct.close()


def flood_stage(es: Elasticsearch) -> dict[str, object]:
    """Watermarks (free bytes) above the disk's whole size: the node counts as full."""
    stats = es.nodes.stats(metric="fs")
    size = max(node["fs"]["total"]["total_in_bytes"] for node in stats["nodes"].values())
    return {
        WATERMARKS[0]: True,
        WATERMARKS[1]: f"{size}b",
        WATERMARKS[2]: f"{size}b",
        WATERMARKS[3]: f"{size}b",
        WATERMARKS[4]: "10s",
    }


def read_only(writes: Writes) -> bool:
    index = writes.served_by()[0]
    found = writes.es.indices.get_settings(index=index, name=READ_ONLY, flat_settings=True)
    # An index without the setting is left out of the answer.
    return found.body.get(index, {}).get("settings", {}).get(READ_ONLY) == "true"


def release_disk(es: Elasticsearch) -> None:
    """Back to the node's own settings; lift the block ES applied (it lifts blocks itself
    only while the disk monitor runs, which the test node's configuration turns off)."""
    es.cluster.put_settings(persistent=dict.fromkeys(WATERMARKS))
    es.indices.put_settings(index="_all", settings={READ_ONLY: None}, expand_wildcards="all")


def test_flood_stage_disk_fails_ingest_clearly_search_serves_and_ingest_recovers(
    writes: Writes,
) -> None:
    counts = kb_counts(writes.client)
    try:
        writes.es.cluster.put_settings(persistent=flood_stage(writes.es))
        blocked_s = wait_until("Elasticsearch to block the KB's index", lambda: read_only(writes),
                               BLOCK_TIMEOUT_S)  # fmt: skip
        write_corpus(writes.sources, DOCUMENTS, marker="quokka")
        started = time.monotonic()
        failed = writes.run("ingest")
        failed_s = time.monotonic() - started
        search = writes.client.post("/v1/search", json={"kb": KB, "query": "topic guide"})
    finally:
        release_disk(writes.es)

    assert failed["state"] == "failed", failed
    error = failed["error"]
    assert error.startswith("index_read_only: Elasticsearch at "), error
    assert "flood-stage watermark" in error and "Free disk space" in error, error
    assert "run the job again" in error and "Searches are still answered" in error, error
    assert search.status_code == 200 and search.json()["results"], "search keeps serving"
    assert hits(writes.client, "quokka") == [] and kb_counts(writes.client) == counts

    assert not read_only(writes)
    recovered = writes.run("ingest")
    assert recovered["state"] == "succeeded", recovered
    assert recovered["result"]["updated"] == 1 and recovered["result"]["failed_count"] == 0
    assert hits(writes.client, "quokka") == ["topic-000.md"]
    print(
        f"\nflood stage: blocked {blocked_s:.1f}s after the settings; ingest failed in "
        f"{failed_s:.1f}s; ingest succeeded once the disk was released"
    )
