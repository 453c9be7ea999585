"""ElasticsearchSearch on a real node: the shared backend contract, then what only it has.

Index-per-KB behind aliases, the versioned mapping, bulk failures reported per document,
an alias swap that concurrent readers never notice, and KB isolation at the index level.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from bot.domain import DocumentChunks, EmbeddedChunk, IndexInfo
from bot.errors import (
    BackendUnavailable,
    EmbeddingModelMismatch,
    IngestionError,
    InvalidRequest,
)
from bot.retrieval.elasticsearch import queries as q
from bot.retrieval.elasticsearch.bulk import BulkSettings
from bot.retrieval.elasticsearch.errors import IndexMappingOutdated
from bot.retrieval.elasticsearch.mapping import (
    MAPPING_VERSION,
    IndexMeta,
    chunk_doc_id,
    chunk_source,
    index_body,
    kb_from_alias,
)
from bot.retrieval.elasticsearch.queries import NUM_CANDIDATES_FACTOR, Bm25Boosts, knn_body
from bot.retrieval.elasticsearch.search import ElasticsearchSearch
from tests.support.es_fixtures import (  # noqa: F401 - fixtures
    drop_indices,
    elasticsearch_url,
    es_backend,
    free_base_port,
)
from tests.support.search_contract import (
    DIM,
    INFO,
    SearchBackendContract,
    make_document,
    source_ids,
    vector_for,
)

pytestmark = pytest.mark.elasticsearch


class TestElasticsearchSearchContract(SearchBackendContract):
    exact_knn = False  # HNSW is approximate; recall is checked instead of order
    knn_score_tolerance = 1e-4  # rescored with the raw float vectors

    @pytest.fixture
    async def backend(self, es_backend: ElasticsearchSearch) -> AsyncIterator[ElasticsearchSearch]:  # noqa: F811
        yield es_backend


# -- helpers ---------------------------------------------------------------------------------
def walrus_documents(kb: str, version: str, count: int = 6) -> list[DocumentChunks]:
    return [
        make_document(
            kb, f"doc-{i}", f"walrus fact {i} {version}", f"tusk note {i}", version=version
        )
        for i in range(count)
    ]


async def served_index(search: ElasticsearchSearch, kb: str) -> str:
    aliases = await search.client.indices.get_alias(name=search.indexes.names(kb).alias)
    (name,) = aliases.body
    return name


# -- versioned mapping -------------------------------------------------------------------------
async def test_an_index_with_an_older_mapping_serves_but_needs_a_reindex(
    es_backend: ElasticsearchSearch,  # noqa: F811
) -> None:
    names = es_backend.indexes.names("legacy")
    old = IndexMeta(kb="legacy", info=INFO, mapping_version=MAPPING_VERSION - 1)
    body = index_body(old, replicas=0, building=False, aliases={names.alias: {}})
    await es_backend.client.indices.create(index=names.initial, **body)
    await es_backend.client.index(
        index=names.alias,
        id="legacy-doc",
        document=chunk_source(
            make_document("legacy", "a", "walrus").chunks[0].chunk,
            vector_for("walrus"),
            "2024-01-01T00:00:00+00:00",
        ),
        refresh=True,
    )

    with pytest.raises(IndexMappingOutdated, match="re-index"):
        await es_backend.ensure_kb("legacy", INFO)
    with pytest.raises(IndexMappingOutdated):
        await es_backend.upsert_documents("legacy", [make_document("legacy", "b", "narwhal")])
    # Still serving while it waits for its re-index.
    assert source_ids(await es_backend.bm25("legacy", "walrus", 5)) == ["a"]
    assert source_ids(await es_backend.knn("legacy", vector_for("walrus"), 5, INFO)) == ["a"]

    build = await es_backend.begin_rebuild("legacy", INFO)
    await build.write([make_document("legacy", "a", "walrus", version="2")])
    await build.commit()
    await es_backend.ensure_kb("legacy", INFO)
    mapping = await es_backend.client.indices.get_mapping(index=names.alias)
    (rebuilt,) = mapping.body.values()
    assert rebuilt["mappings"]["_meta"]["supportbot"]["mapping_version"] == MAPPING_VERSION
    assert not await es_backend.client.indices.exists(index=names.initial)


# -- kNN request shape -----------------------------------------------------------------------
async def test_knn_runs_without_a_dfs_round_and_ranks_as_the_top_level_form(
    es_backend: ElasticsearchSearch,  # noqa: F811
) -> None:
    """The `knn` query skips the DFS round the top-level `knn` section costs (~2 ms of the
    node's 3 at help-center size), with the same hits and rescored cosine scores."""
    await es_backend.ensure_kb("shape", INFO)
    texts = [f"walrus fact {i}" for i in range(40)]
    await es_backend.upsert_documents(
        "shape", [make_document("shape", f"doc-{i}", text) for i, text in enumerate(texts)]
    )
    alias = es_backend.indexes.names("shape").alias
    body = knn_body("shape", vector_for("walrus fact 3"), 10, NUM_CANDIDATES_FACTOR)
    top_level = {**body, "knn": body["query"]["knn"]}
    del top_level["query"]

    shipped = (await es_backend.client.search(index=alias, **body, profile=True)).body
    before = (await es_backend.client.search(index=alias, **top_level, profile=True)).body

    assert "dfs" not in shipped["profile"]["shards"][0]
    assert "dfs" in before["profile"]["shards"][0]
    ranked = [[(h["_id"], h["_score"]) for h in r["hits"]["hits"]] for r in (shipped, before)]
    assert ranked[0] == ranked[1]
    assert ranked[0][0][0].startswith("doc-3#")
    hits = await es_backend.knn("shape", vector_for("walrus fact 3"), 10, INFO)
    assert [h.chunk.source_id for h in hits] == [i.split("#")[0] for i, _ in ranked[0]]


# -- zero-downtime re-index ------------------------------------------------------------------
async def test_alias_swaps_are_invisible_to_concurrent_queries(
    es_backend: ElasticsearchSearch,  # noqa: F811
    elasticsearch_url: str,  # noqa: F811
) -> None:
    kb = "swap"
    await es_backend.ensure_kb(kb, INFO)
    await es_backend.upsert_documents(kb, walrus_documents(kb, "v0"))
    # Another process: its own client and its own cache of what the alias points at.
    reader = ElasticsearchSearch(elasticsearch_url, index_prefix=es_backend.index_prefix)
    results: list[int] = []
    errors: list[BaseException] = []
    stop = asyncio.Event()

    async def query_loop() -> None:
        while not stop.is_set():
            try:
                bm25_hits, knn_hits = await asyncio.gather(
                    reader.bm25(kb, "walrus tusk", 50),
                    reader.knn(kb, vector_for("walrus fact 1"), 50, INFO),
                )
                results.extend([len(bm25_hits), len(knn_hits)])
            except Exception as exc:  # noqa: BLE001 - any failure is what this test counts
                errors.append(exc)

    loops = [asyncio.create_task(query_loop()) for _ in range(3)]
    try:
        for generation in range(1, 4):
            build = await es_backend.begin_rebuild(kb, INFO)
            await build.write(walrus_documents(kb, f"v{generation}"))
            await build.commit()
            await asyncio.sleep(0.3)
    finally:
        stop.set()
        await asyncio.gather(*loops)
        await reader.close()

    assert errors == []
    assert len(results) > 30
    assert min(results) == 12  # every query saw a whole index: 6 documents x 2 chunks
    texts = {hit.chunk.text for hit in await es_backend.bm25(kb, "walrus", 50)}
    assert texts == {f"walrus fact {i} v3" for i in range(6)}
    found = await es_backend.client.indices.get(index=es_backend.indexes.names(kb).physical_pattern)
    assert list(found.body) == [await served_index(es_backend, kb)]  # old indices retired


async def test_a_failed_reindex_leaves_the_old_index_serving(
    es_backend: ElasticsearchSearch,  # noqa: F811
) -> None:
    kb = "keep"
    await es_backend.ensure_kb(kb, INFO)
    await es_backend.upsert_documents(kb, walrus_documents(kb, "v0"))
    before = await served_index(es_backend, kb)
    build = await es_backend.begin_rebuild(kb, INFO)
    await build.write(walrus_documents(kb, "v1"))
    # Someone deletes a chunk from the half-built index: the count check must catch it.
    building = build.index
    await es_backend.client.indices.refresh(index=building)
    some = await es_backend.client.search(index=building, size=1)
    await es_backend.client.delete(index=building, id=some["hits"]["hits"][0]["_id"])
    with pytest.raises(IngestionError, match="keeps serving"):
        await build.commit()
    await build.abort()
    assert await served_index(es_backend, kb) == before
    assert not await es_backend.client.indices.exists(index=building)
    assert {h.chunk.text for h in await es_backend.bm25(kb, "walrus", 50)} == {
        f"walrus fact {i} v0" for i in range(6)
    }


async def test_a_model_change_made_by_another_process_is_noticed(
    es_backend: ElasticsearchSearch,  # noqa: F811
    elasticsearch_url: str,  # noqa: F811
) -> None:
    kb = "models"
    await es_backend.ensure_kb(kb, INFO)
    await es_backend.upsert_documents(kb, walrus_documents(kb, "v0"))
    reader = ElasticsearchSearch(elasticsearch_url, index_prefix=es_backend.index_prefix)
    try:
        assert await reader.knn(kb, vector_for("walrus"), 5, INFO)  # caches the served index
        same_dimension = IndexInfo("successor-model", DIM, 1)
        build = await es_backend.begin_rebuild(kb, same_dimension)
        await build.write(walrus_documents(kb, "v1"))
        await build.commit()
        with pytest.raises(EmbeddingModelMismatch, match="successor-model"):
            await reader.knn(kb, vector_for("walrus"), 5, INFO)
        build = await es_backend.begin_rebuild(kb, INFO)
        await build.write(walrus_documents(kb, "v2"))
        await build.commit()
        assert len(await reader.knn(kb, vector_for("walrus"), 5, INFO)) == 5
    finally:
        await reader.close()


# -- bulk ingestion ----------------------------------------------------------------------------
async def test_documents_the_server_rejects_fail_alone_and_keep_their_old_version(
    es_backend: ElasticsearchSearch,  # noqa: F811
) -> None:
    kb = "bulk"
    await es_backend.ensure_kb(kb, INFO)
    original = make_document(kb, "bad", "walrus original one", "walrus original two")
    await es_backend.upsert_documents(kb, [original])
    # Passes our checks, but the server refuses chunk #1: ordinal is mapped as integer.
    replacement = make_document(
        kb, "bad", "walrus replaced one", "walrus replaced two", version="2"
    )
    broken = DocumentChunks(
        replacement.source_id,
        replacement.doc_hash,
        [
            replacement.chunks[0],
            EmbeddedChunk(
                replace(replacement.chunks[1].chunk, ordinal=2**40), replacement.chunks[1].vector
            ),
        ],
    )
    report = await es_backend.upsert_documents(
        kb,
        [
            make_document(kb, "good-1", "walrus fine"),
            broken,
            make_document(kb, "good-2", "walrus too"),
        ],
    )
    assert report.written == ("good-1", "good-2")
    assert list(report.failed) == ["bad"]
    assert "out of range" in report.failed["bad"] or "mapper" in report.failed["bad"]
    assert (await es_backend.document_hashes(kb))["bad"] == original.doc_hash
    texts = {hit.chunk.text for hit in await es_backend.bm25(kb, "walrus", 10)}
    assert texts == {"walrus original one", "walrus original two", "walrus fine", "walrus too"}


async def test_bulk_writes_are_chunked(elasticsearch_url: str) -> None:  # noqa: F811
    prefix = f"test-{uuid.uuid4().hex[:10]}"
    search = ElasticsearchSearch(
        elasticsearch_url, index_prefix=prefix, bulk_settings=BulkSettings(chunk_size=7)
    )
    try:
        await search.ensure_kb("many", INFO)
        documents = [make_document("many", f"d{i}", f"walrus {i}", f"tusk {i}") for i in range(20)]
        report = await search.upsert_documents("many", documents)
        assert len(report.written) == 20 and not report.failed
        assert (await search.stats("many")).chunks == 40
    finally:
        await drop_indices(search, prefix)
        await search.close()


INFLIGHT_LIMIT = "network.breaker.inflight_requests.limit"


async def inflight_trips(search: ElasticsearchSearch) -> int:
    stats = await search.client.nodes.stats(metric="breaker")
    return sum(node["breakers"]["inflight_requests"]["tripped"] for node in stats["nodes"].values())


async def test_bulk_writes_rejected_with_429_are_retried_until_they_land(
    elasticsearch_url: str,  # noqa: F811
) -> None:
    """Real back-pressure: the node's in-flight-requests circuit breaker is set so low that
    every bulk body trips it (HTTP 429, circuit_breaking_exception) while small requests
    pass; it is lifted mid-write and the retried bulk lands whole."""
    prefix = f"test-{uuid.uuid4().hex[:10]}"
    search = ElasticsearchSearch(
        elasticsearch_url,
        index_prefix=prefix,
        bulk_settings=BulkSettings(max_retries=6, initial_backoff_s=0.25, max_backoff_s=2.0),
    )
    try:
        await search.ensure_kb("busy", INFO)
        documents = [
            make_document("busy", f"d{i}", f"walrus {i} " * 20, f"tusk {i} " * 20)
            for i in range(20)
        ]
        trips_before = await inflight_trips(search)
        await search.client.cluster.put_settings(persistent={INFLIGHT_LIMIT: "2kb"})
        try:
            write = asyncio.create_task(search.upsert_documents("busy", documents))
            await asyncio.sleep(1.5)
            assert not write.done()  # held back by 429s, not failed
            assert await inflight_trips(search) > trips_before
        finally:
            await search.client.cluster.put_settings(persistent={INFLIGHT_LIMIT: None})
        report = await asyncio.wait_for(write, timeout=60)
        assert len(report.written) == 20 and not report.failed
        assert (await search.stats("busy")).chunks == 40
    finally:
        await search.client.cluster.put_settings(persistent={INFLIGHT_LIMIT: None})
        await drop_indices(search, prefix)
        await search.close()


# -- isolation -------------------------------------------------------------------------------
async def test_each_kb_lives_in_its_own_index_and_queries_filter_by_kb(
    es_backend: ElasticsearchSearch,  # noqa: F811
) -> None:
    for kb in ("acme", "acme-eu"):  # one name is a prefix of the other
        await es_backend.ensure_kb(kb, INFO)
        await es_backend.upsert_documents(kb, [make_document(kb, f"{kb}-doc", "walrus tusks")])
    assert await served_index(es_backend, "acme") != await served_index(es_backend, "acme-eu")
    # Even a chunk of another KB planted in acme's own index is never returned for acme.
    stray = make_document("acme-eu", "stray", "walrus tusks").chunks[0]
    await es_backend.client.index(
        index=es_backend.indexes.names("acme").alias,
        id="stray",
        document=chunk_source(stray.chunk, stray.vector, "2024-01-01T00:00:00+00:00"),
        refresh=True,
    )
    assert source_ids(await es_backend.bm25("acme", "walrus", 10)) == ["acme-doc"]
    assert source_ids(await es_backend.knn("acme", stray.vector, 10, INFO)) == ["acme-doc"]
    await es_backend.delete_kb("acme")
    assert await es_backend.list_kbs() == ["acme-eu"]
    assert source_ids(await es_backend.bm25("acme-eu", "walrus", 10)) == ["acme-eu-doc"]


async def test_bm25_keeps_the_kb_as_a_post_filter_with_the_same_top_hits_as_a_filter(
    es_backend: ElasticsearchSearch,  # noqa: F811
) -> None:
    """The KB restriction left the query (it slowed Lucene's scoring); the top n stay the
    filter clause's: n of the KB's own chunks, in the same order with the same scores,
    even when another KB's chunks in the same index would outscore them."""
    kb = "postfiltered"
    own = [make_document(kb, f"own-{i}", f"walrus {i}", "tusk note") for i in range(8)]
    await es_backend.ensure_kb(kb, INFO)
    await es_backend.upsert_documents(kb, own)
    alias = es_backend.indexes.names(kb).alias
    for i in range(8):  # stronger matches: the query words in title and body
        stray = make_document("other", f"stray-{i}", "walrus tusk", "walrus tusk").chunks[0]
        await es_backend.client.index(
            index=alias,
            id=f"stray-{i}",
            document=chunk_source(stray.chunk, stray.vector, "2024-01-01T00:00:00+00:00"),
        )
    await es_backend.client.indices.refresh(index=alias)
    hits = await es_backend.bm25(kb, "walrus tusk", 5)
    as_filter = q.bm25_body(kb, ["walrus", "tusk"], 5, Bm25Boosts())
    as_filter["query"]["bool"]["filter"] = as_filter.pop("post_filter")
    expected = (await es_backend.client.search(index=alias, **as_filter)).body["hits"]["hits"]
    assert len(hits) == 5
    assert all(source.startswith("own-") for source in source_ids(hits))
    assert [chunk_doc_id(h.chunk) for h in hits] == [h["_id"] for h in expected]
    assert [h.score for h in hits] == [h["_score"] for h in expected]


async def test_kb_names_that_are_not_index_safe_are_refused(
    es_backend: ElasticsearchSearch,  # noqa: F811
) -> None:
    for bad in ("Upper", "a/b", "../x", "a b", "x" * 64, ""):
        with pytest.raises(InvalidRequest):
            await es_backend.ensure_kb(bad, INFO)


# -- unavailable or slow -------------------------------------------------------------------
async def test_unreachable_elasticsearch_fails_fast_with_backend_unavailable() -> None:
    closed = f"http://127.0.0.1:{free_base_port(1)}"
    search = ElasticsearchSearch(closed, timeout_s=2.0)
    try:
        started = time.perf_counter()
        assert await search.ping() is False
        with pytest.raises(BackendUnavailable, match="unreachable") as caught:
            await search.bm25("alpha", "walrus", 5)
        assert caught.value.retry_after_s > 0
        with pytest.raises(BackendUnavailable):
            await search.ensure_kb("alpha", INFO)
        assert time.perf_counter() - started < 3
    finally:
        await search.close()


async def test_a_hanging_elasticsearch_times_out_with_backend_unavailable() -> None:
    """A server that accepts connections and never answers (a stuck node)."""
    accepted: list[asyncio.StreamWriter] = []

    async def swallow(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    search = ElasticsearchSearch(f"http://127.0.0.1:{port}", timeout_s=0.5)
    try:
        started = time.perf_counter()
        assert await search.ping() is False
        with pytest.raises(BackendUnavailable, match="in time"):
            await search.knn("alpha", vector_for("walrus"), 5, INFO)
        assert time.perf_counter() - started < 3
    finally:
        await search.close()
        for writer in accepted:
            writer.close()
        server.close()
        await server.wait_closed()


# -- pure helpers ------------------------------------------------------------------------------
def test_chunk_ids_stay_within_elasticsearch_limits() -> None:
    chunk = make_document("kb", "x" * 600, "walrus").chunks[0].chunk
    doc_id = chunk_doc_id(chunk)
    assert len(doc_id.encode()) <= 512
    assert doc_id == chunk_doc_id(chunk)
    assert chunk_doc_id(replace(chunk, ordinal=1)) != doc_id
    short = make_document("kb", "guide.md", "walrus").chunks[0].chunk
    assert chunk_doc_id(short).startswith("guide.md#")


def test_bm25_boosts_are_scaled_for_combined_fields() -> None:
    assert Bm25Boosts(3.0, 2.0, 1.0).fields() == ["title^3", "headings^2", "body^1"]
    assert Bm25Boosts(1.5, 0.0, 0.5).fields(".std") == ["title.std^3", "body.std^1"]
    with pytest.raises(ValueError):
        Bm25Boosts(0, 0, 0).fields()


def test_only_kb_aliases_of_our_prefix_name_a_kb() -> None:
    assert kb_from_alias("supportbot", "supportbot-kb-acme-eu") == "acme-eu"
    assert kb_from_alias("supportbot", "supportbot-build-acme.2024") is None
    assert kb_from_alias("supportbot", "other-kb-acme") is None


# -- rebuilds serve one segment ----------------------------------------------------------------
async def segment_count(search: ElasticsearchSearch, index: str) -> int:
    response = await search.client.indices.segments(index=index)
    return sum(
        len(copy["segments"])
        for found in response.body["indices"].values()
        for copies in found["shards"].values()
        for copy in copies
    )


async def test_a_rebuild_is_merged_to_one_segment_before_it_serves(
    es_backend: ElasticsearchSearch,  # noqa: F811
) -> None:
    """Every flush of a bulk load leaves a segment, and every query pays per segment."""
    kb = "merged"
    build = await es_backend.begin_rebuild(kb, INFO)
    building = es_backend.indexes.names(kb).physical_pattern
    for batch in range(3):
        documents = [
            make_document(kb, f"doc-{batch}-{i}", f"walrus fact {batch} {i}", f"tusk {i}")
            for i in range(4)
        ]
        report = await build.write(documents)
        assert not report.failed
        await es_backend.client.indices.flush(index=building)
    assert await segment_count(es_backend, building) >= 3
    stats = await build.commit()
    assert stats.chunks == 24
    assert await segment_count(es_backend, await served_index(es_backend, kb)) == 1
    hits = await es_backend.bm25(kb, "walrus fact", 50)
    assert len(hits) == 12  # the "walrus fact" chunk of each document
