"""Where each knowledge base lives: its alias, the index behind it, and what built it.

The alias → index answer is cached per process; callers that must be current (writes,
stats, rebuilds) ask with `fresh=True`, and kNN re-asks whenever a response comes from an
index it has not seen, so a swap made by another process is noticed on its first query.
"""

from __future__ import annotations

from collections.abc import Sequence

from elasticsearch import ApiError, AsyncElasticsearch

from bot.domain import IndexInfo, Vector
from bot.errors import EmbeddingModelMismatch, KnowledgeBaseNotFound, RetrievalError
from bot.retrieval.elasticsearch import bulk
from bot.retrieval.elasticsearch.errors import error_type, translated
from bot.retrieval.elasticsearch.mapping import (
    MAPPING_VERSION,
    IndexMeta,
    IndexNames,
    ServedIndex,
    check_kb_name,
    index_body,
    kb_from_alias,
)
from bot.retrieval.vectors import vector_problem

TERMS_PER_REQUEST = 1_000


class KbIndexes:
    def __init__(
        self,
        client: AsyncElasticsearch,
        slow_client: AsyncElasticsearch,
        *,
        url: str,
        prefix: str,
        replicas: int,
    ) -> None:
        self._client = client
        self._slow_client = slow_client
        self._url = url
        self._prefix = prefix
        self._replicas = replicas
        self._served: dict[str, ServedIndex] = {}

    def names(self, kb: str) -> IndexNames:
        return IndexNames(self._prefix, check_kb_name(kb))

    async def list_kbs(self) -> list[str]:
        async with translated(self._url, "listing knowledge bases"):
            try:
                response = await self._client.indices.get_alias(name=f"{self._prefix}-kb-*")
            except ApiError as exc:
                if exc.status_code == 404:
                    return []
                raise
        kbs = {
            kb
            for entry in response.body.values()
            for alias in entry.get("aliases", {})
            if (kb := kb_from_alias(self._prefix, alias)) is not None
        }
        return sorted(kbs)

    async def physical(self, names: IndexNames) -> list[str]:
        """Every index of the KB: the served one and any unfinished rebuilds."""
        async with translated(self._url, f"listing the indices of KB {names.kb!r}"):
            found = await self._client.indices.get(index=names.physical_pattern)
        return list(found.body)

    async def drop(self, indices: Sequence[str]) -> None:
        if indices:
            async with translated(self._url, f"deleting indices {list(indices)}"):
                await self._slow_client.indices.delete(index=",".join(indices))

    def forget(self, kb: str) -> None:
        self._served.pop(kb, None)

    async def resolve(self, kb: str) -> ServedIndex | None:
        """Ask the cluster which index the KB's alias points at now (None: no such KB)."""
        alias = self.names(kb).alias
        async with translated(self._url, f"looking up KB {kb!r}"):
            try:
                response = await self._client.indices.get_mapping(index=alias)
            except ApiError as exc:
                if exc.status_code == 404 and error_type(exc) == "index_not_found_exception":
                    self._served.pop(kb, None)
                    return None
                raise
        targets = list(response.body.items())
        if len(targets) != 1 or targets[0][0] == alias:
            raise RetrievalError(
                f"{alias!r} should be an alias of exactly one supportbot index, found "
                f"{[name for name, _ in targets]}; delete the KB and ingest it again"
            )
        name, body = targets[0]
        served = ServedIndex(name, IndexMeta.from_mapping(name, body["mappings"]))
        self._served[kb] = served
        return served

    async def require(self, kb: str, *, fresh: bool = False) -> ServedIndex:
        served = None if fresh else self._served.get(kb)
        if served is None:
            served = await self.resolve(kb)
        if served is None:
            raise KnowledgeBaseNotFound(f"knowledge base {kb!r} does not exist; ingest it first")
        return served

    def remember(self, kb: str, served: ServedIndex) -> None:
        self._served[kb] = served

    async def create_initial(self, names: IndexNames, info: IndexInfo) -> ServedIndex:
        meta = IndexMeta(kb=names.kb, info=info, mapping_version=MAPPING_VERSION)
        body = index_body(meta, replicas=self._replicas, building=False, aliases={names.alias: {}})
        async with translated(self._url, f"creating KB {names.kb!r}"):
            try:
                await self._slow_client.indices.create(index=names.initial, **body)
            except ApiError as exc:
                if error_type(exc) != "resource_already_exists_exception":
                    raise
        served = await self.resolve(names.kb)  # ours, or the one a concurrent caller made
        if served is None:
            raise RetrievalError(
                f"index {names.initial!r} exists without its alias {names.alias!r}; delete it"
            )
        check_model(names.kb, served.meta.info, info)
        return served

    async def chunk_ids(self, index: str, source_ids: Sequence[str]) -> dict[str, dict[str, str]]:
        """source_id → {chunk id: doc_hash} of the chunks stored for these documents."""
        found: dict[str, dict[str, str]] = {}
        unique = list(dict.fromkeys(source_ids))
        for start in range(0, len(unique), TERMS_PER_REQUEST):
            batch = unique[start : start + TERMS_PER_REQUEST]
            query = {"terms": {"source_id": batch}}
            async for hit in bulk.scan_sorted(
                self._client, index, query, ["source_id", "doc_hash"]
            ):
                found.setdefault(hit["source_id"], {})[hit["_id"]] = hit["doc_hash"]
        return found


def check_model(kb: str, indexed: IndexInfo, requested: IndexInfo) -> None:
    if indexed != requested:
        raise EmbeddingModelMismatch(
            f"KB {kb!r} was indexed with {indexed.embedding_model!r} (dimension "
            f"{indexed.dimension}, schema {indexed.schema_version}) but "
            f"{requested.embedding_model!r} (dimension {requested.dimension}, schema "
            f"{requested.schema_version}) was asked for; re-index the KB with the new model "
            "(the old index keeps serving meanwhile) or set SUPPORTBOT_EMBEDDING_MODEL back"
        )


def query_matches(served: ServedIndex, info: IndexInfo, vector: Vector) -> bool:
    return served.meta.info == info and vector_problem(vector, info.dimension) is None


def check_query(kb: str, served: ServedIndex, info: IndexInfo, vector: Vector) -> None:
    check_model(kb, served.meta.info, info)
    problem = vector_problem(vector, served.meta.info.dimension)
    if problem is not None:
        raise EmbeddingModelMismatch(f"query {problem}; embed it with the KB's model")
