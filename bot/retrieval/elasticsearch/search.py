"""ElasticsearchSearch: the search backend on an Elasticsearch 8 cluster (server >= 8.18).

Each KB is one index behind an alias (layout and why: `mapping`). Queries
address the alias; a rebuild fills a new index and moves the alias in one atomic step.
The index's `_meta` records the embedding model; kNN checks it from a per-process cache
and re-checks whenever a response comes from an index it has not seen, so a swap made
by another process is noticed on the first query after it.

Every call is bounded by `timeout_s` and fails fast with BackendUnavailable when the
cluster is down or slow; the API turns that into 503 + Retry-After.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from elasticsearch import ApiError, AsyncElasticsearch, TransportError

from bot.domain import DocumentChunks, Hit, IndexInfo, KbStats, Vector, WriteReport
from bot.errors import ConfigurationError, RetrievalError
from bot.retrieval.elasticsearch import bulk
from bot.retrieval.elasticsearch import queries as q
from bot.retrieval.elasticsearch.build import ElasticsearchIndexBuild
from bot.retrieval.elasticsearch.chunk_cache import DEFAULT_MAX_CHUNKS, ChunkCache
from bot.retrieval.elasticsearch.cluster import Cluster
from bot.retrieval.elasticsearch.errors import IndexMappingOutdated, translated
from bot.retrieval.elasticsearch.hit_chunks import HitChunks
from bot.retrieval.elasticsearch.indices import KbIndexes, check_model, check_query, query_matches
from bot.retrieval.elasticsearch.mapping import (
    MAPPING_VERSION,
    IndexMeta,
    index_body,
)
from bot.retrieval.elasticsearch.serializer import FastJsonSerializer
from bot.retrieval.terms import query_terms

logger = logging.getLogger(__name__)


class ElasticsearchSearch:
    name = "elasticsearch"

    def __init__(
        self,
        url: str,
        *,
        api_key: str | None = None,
        index_prefix: str = "supportbot",
        timeout_s: float = 5.0,
        replicas: int = 0,
        title_boost: float = 3.0,
        headings_boost: float = 2.0,
        body_boost: float = 1.0,
        num_candidates_factor: int = q.NUM_CANDIDATES_FACTOR,
        retire_after_s: float = 1.0,
        bulk_settings: bulk.BulkSettings | None = None,
        chunk_cache_max_chunks: int = DEFAULT_MAX_CHUNKS,
    ) -> None:
        """Cheap: no request is made until the first call.

        `url` names one node, or several separated by commas: a request that fails on one
        node is retried once on another, and a dead node is skipped for a while.
        One client per backend, so every query reuses its keep-alive connections; JSON
        goes through orjson (`FastJsonSerializer`), which counts on every request.
        Searches read hits' text from a per-process cache of `chunk_cache_max_chunks`
        chunks (`hit_chunks`; 0 reads every hit's `_source` from the node each time).
        """
        if index_prefix != index_prefix.lower() or not index_prefix.strip("-_"):
            raise ConfigurationError(
                f"SUPPORTBOT_ELASTICSEARCH_INDEX_PREFIX {index_prefix!r} must be lower case"
            )
        self.url = url
        self.index_prefix = index_prefix
        self.timeout_s = timeout_s
        self.replicas = replicas
        self.retire_after_s = retire_after_s
        self.bulk_settings = bulk_settings or bulk.BulkSettings()
        self._boosts = q.Bm25Boosts(title_boost, headings_boost, body_boost)
        self._num_candidates_factor = max(1, num_candidates_factor)
        hosts = [host.strip() for host in url.split(",") if host.strip()]
        if not hosts:
            raise ConfigurationError(
                "the Elasticsearch URL is empty; set SUPPORTBOT_ELASTICSEARCH_URL"
            )
        self._hosts = len(hosts)
        self.client = AsyncElasticsearch(
            hosts,
            api_key=api_key,
            request_timeout=timeout_s,
            max_retries=1,
            retry_on_timeout=False,
            serializer=FastJsonSerializer(),
        )
        self.slow_client = self.client.options(
            request_timeout=max(30.0, 6 * timeout_s), max_retries=3, retry_on_timeout=True
        )
        """For bulk writes and index administration, which may legitimately take a while."""
        self.hit_chunks = HitChunks(self.client, ChunkCache(chunk_cache_max_chunks))
        self.indexes = KbIndexes(
            self.client, self.slow_client, url=url, prefix=index_prefix, replicas=replicas
        )
        self.cluster = Cluster(
            url=url,
            client=self.client,
            slow_client=self.slow_client,
            indexes=self.indexes,
            timeout_s=timeout_s,
            replicas=replicas,
            retire_after_s=retire_after_s,
            bulk_settings=self.bulk_settings,
        )

    # -- SearchBackend: KB lifecycle ------------------------------------------------------
    async def ensure_kb(self, kb: str, info: IndexInfo) -> None:
        names = self.indexes.names(kb)
        served = await self.indexes.resolve(kb)
        if served is None:
            await self.indexes.create_initial(names, info)
            return
        check_model(kb, served.meta.info, info)
        if served.meta.mapping_version != MAPPING_VERSION:
            raise IndexMappingOutdated(
                f"KB {kb!r} is stored in index {served.name!r} with mapping version "
                f"{served.meta.mapping_version}, but this supportbot writes version "
                f"{MAPPING_VERSION}. It still answers queries; re-index it (supportbot ingest "
                "--rebuild, or POST the KB's reindex endpoint) to write to it again"
            )

    async def list_kbs(self) -> list[str]:
        return await self.indexes.list_kbs()

    async def stats(self, kb: str) -> KbStats:
        return await self.cluster.stats(kb)

    async def delete_kb(self, kb: str) -> None:
        names = self.indexes.names(kb)
        self.indexes.forget(kb)
        self.hit_chunks.cache.drop_indices_of(names.alias)
        await self.indexes.drop(await self.indexes.physical(names))

    async def document_hashes(self, kb: str) -> dict[str, str]:
        alias = self.indexes.names(kb).alias
        hashes: dict[str, str] = {}
        async with translated(self.url, f"reading document hashes of KB {kb!r}", kb=kb):
            async for source_id, doc_hash in bulk.hash_pairs(self.client, alias):
                # Two versions side by side (a replace was interrupted): never "up to date".
                hashes[source_id] = "mixed" if source_id in hashes else doc_hash
        return hashes

    # -- SearchBackend: writes ------------------------------------------------------------
    async def upsert_documents(self, kb: str, documents: Sequence[DocumentChunks]) -> WriteReport:
        served = await self.indexes.require(kb, fresh=True)
        if served.meta.mapping_version != MAPPING_VERSION:
            await self.ensure_kb(kb, served.meta.info)  # raises IndexMappingOutdated
        alias = self.indexes.names(kb).alias
        async with translated(self.url, f"writing to KB {kb!r}", kb=kb):
            previous = await self.indexes.chunk_ids(alias, [d.source_id for d in documents])
            outcome = await bulk.write_documents(
                self.slow_client,
                alias,
                kb,
                documents,
                dimension=served.meta.info.dimension,
                previous=previous,
                settings=self.bulk_settings,
            )
            await self.slow_client.indices.refresh(index=alias)
        return outcome.report

    async def delete_documents(self, kb: str, source_ids: Sequence[str]) -> int:
        await self.indexes.require(kb, fresh=True)
        alias = self.indexes.names(kb).alias
        async with translated(self.url, f"deleting documents from KB {kb!r}", kb=kb):
            existing = await self.indexes.chunk_ids(alias, source_ids)
            doc_ids = [chunk_id for chunks in existing.values() for chunk_id in chunks]
            outcome = await bulk.bulk_apply(
                self.slow_client, bulk.delete_actions(alias, doc_ids), self.bulk_settings
            )
            await self.slow_client.indices.refresh(index=alias)
        if outcome.errors:
            raise RetrievalError(
                f"{len(outcome.errors)} chunks of KB {kb!r} could not be deleted "
                f"({next(iter(outcome.errors.values()))}); run the delete again"
            )
        return len(existing)

    # -- SearchBackend: queries -----------------------------------------------------------
    async def bm25(self, kb: str, query: str, top_n: int) -> list[Hit]:
        alias = self.indexes.names(kb).alias
        terms = query_terms(query)
        if not terms or top_n <= 0:
            await self.indexes.require(kb)
            return []
        async with translated(self.url, f"BM25 search in KB {kb!r}", kb=kb):
            found = await self.hit_chunks.search(
                alias, q.bm25_body(kb, terms, top_n, self._boosts), cosine=False
            )
        return found.hits

    async def knn(self, kb: str, vector: Vector, top_n: int, info: IndexInfo) -> list[Hit]:
        served = await self.indexes.require(kb)
        if not query_matches(served, info, vector):
            served = await self.indexes.require(kb, fresh=True)  # the alias may have moved
            check_query(kb, served, info, vector)
        if top_n <= 0:
            return []
        body = q.knn_body(kb, vector, top_n, self._num_candidates_factor)
        try:
            async with translated(self.url, f"kNN search in KB {kb!r}", kb=kb):
                found = await self.hit_chunks.search(
                    self.indexes.names(kb).alias, body, cosine=True
                )
        except RetrievalError:
            check_query(kb, await self.indexes.require(kb, fresh=True), info, vector)
            raise
        if found.indices - {served.name}:
            check_query(kb, await self.indexes.require(kb, fresh=True), info, vector)
        return found.hits

    # -- SearchBackend: rebuilds and health -----------------------------------------------
    async def begin_rebuild(self, kb: str, info: IndexInfo) -> ElasticsearchIndexBuild:
        names = self.indexes.names(kb)
        served = await self.indexes.resolve(kb) or await self.indexes.create_initial(names, info)
        leftovers = [name for name in await self.indexes.physical(names) if name != served.name]
        if leftovers:
            logger.warning("dropping unfinished rebuilds of KB %s: %s", kb, leftovers)
            await self.indexes.drop(leftovers)
        physical, writer = names.new_build()
        meta = IndexMeta(kb=kb, info=info, mapping_version=MAPPING_VERSION)
        body = index_body(meta, replicas=self.replicas, building=True, aliases={writer: {}})
        async with translated(self.url, f"starting a rebuild of KB {kb!r}"):
            await self.slow_client.indices.create(index=physical, **body)
        return ElasticsearchIndexBuild(self.cluster, names, physical, writer, meta)

    async def ping(self) -> bool:
        """True when the cluster answers and is not red; False within ~timeout_s otherwise."""
        deadline = min(self.timeout_s, 2.0)
        others = self._hosts - 1  # a dead node among several is not a dead cluster
        try:
            async with asyncio.timeout(deadline * (others + 1) + 0.5):
                health = await self.client.options(
                    request_timeout=deadline, max_retries=others
                ).cluster.health()
        except (ApiError, TransportError, TimeoutError):
            return False
        return health.get("status") in ("green", "yellow")

    async def close(self) -> None:
        await self.client.close()
