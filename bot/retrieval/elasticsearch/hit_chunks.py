"""Searches that read no stored fields: hits' identities from doc values, text from a cache.

`lean_body` turns a BM25 or kNN body into one whose fetch phase loads nothing from the
stored-field blocks (`stored_fields: _none_`): each hit carries its chunk's identity
(`source_id`, `doc_hash`, `ordinal`) and version (`_seq_no`, `_primary_term`, `indexed_at`)
from doc values, which every index of mapping version 1 has. The chunks come from a
`ChunkCache`; the ones it lacks, or holds in another version, are read with one `mget` on
the concrete index the hits came from, and kept.

Whenever the lean answer cannot be completed exactly (a hit without those doc values, two
hits naming one chunk, a chunk gone or rewritten between the search and the `mget`), the
search runs again in the
full shape, which reads `_source` with the hits in one consistent pass: the lists are
always the ones the full request returns.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from elasticsearch import AsyncElasticsearch

from bot.domain import Chunk, Hit
from bot.retrieval.elasticsearch.chunk_cache import ChunkCache, ChunkKey, ChunkStamp
from bot.retrieval.elasticsearch.mapping import chunk_from_source, doc_id

logger = logging.getLogger(__name__)

IDENTITY_FIELDS = ("source_id", "doc_hash", "ordinal", "indexed_at")


@dataclass(frozen=True, slots=True)
class Found:
    """One search's hits, best first, and the concrete indices that answered."""

    hits: list[Hit]
    indices: frozenset[str]


def lean_body(body: dict[str, Any]) -> dict[str, Any]:
    return {
        **body,
        "stored_fields": "_none_",
        "docvalue_fields": list(IDENTITY_FIELDS),
        "seq_no_primary_term": True,
    }


def hit_identity(raw: dict[str, Any]) -> tuple[ChunkKey, ChunkStamp] | None:
    """The chunk and version a lean hit names, or None when its doc values are missing."""
    fields = raw.get("fields") or {}
    try:
        key = ChunkKey(
            raw["_index"],
            str(fields["source_id"][0]),
            str(fields["doc_hash"][0]),
            int(fields["ordinal"][0]),
        )
        stamp = ChunkStamp(
            int(raw["_seq_no"]), int(raw["_primary_term"]), str(fields["indexed_at"][0])
        )
    except (KeyError, IndexError, TypeError, ValueError):
        return None
    return key, stamp


def reported_score(raw: dict[str, Any], *, cosine: bool) -> float:
    """Elasticsearch scores a cosine match (1 + cos) / 2; report the cosine itself."""
    score = float(raw["_score"])
    return 2.0 * score - 1.0 if cosine else score


class HitChunks:
    """Runs one search and returns its hits with their chunks, reading only missing text.

    With the cache's bound at 0 every search is the full request, as before the cache.
    Errors are the client's; the caller translates them.
    """

    def __init__(self, client: AsyncElasticsearch, cache: ChunkCache) -> None:
        self._client = client
        self.cache = cache
        self._serving: dict[str, str] = {}
        """alias → the concrete index its latest hits came from"""

    async def search(self, index: str, body: dict[str, Any], *, cosine: bool) -> Found:
        if not self.cache.enabled:
            return await self._full(index, body, cosine=cosine)
        raws = (await self._client.search(index=index, **lean_body(body))).body["hits"]["hits"]
        identities = [hit_identity(raw) for raw in raws]
        wanted: dict[ChunkKey, ChunkStamp] = {}
        for identity in identities:
            if identity is None:
                logger.debug("hits from %s lack their identity doc values", index)
                return await self._full(index, body, cosine=cosine)
            wanted[identity[0]] = identity[1]
        if len(wanted) < len(raws):  # two documents claim one chunk: not written by us
            return await self._full(index, body, cosine=cosine)
        chunks = self.cache.get(wanted)
        missing = {key: stamp for key, stamp in wanted.items() if key not in chunks}
        if missing:
            loaded = await self._load(missing)
            if loaded is None:
                return await self._full(index, body, cosine=cosine)
            chunks.update(loaded)
        self._note_serving(index, raws)
        found = []
        for rank, (raw, identity) in enumerate(zip(raws, identities, strict=True), start=1):
            assert identity is not None
            found.append(Hit(chunks[identity[0]], reported_score(raw, cosine=cosine), rank))
        return Found(found, frozenset(raw["_index"] for raw in raws))

    def _note_serving(self, alias: str, raws: list[dict[str, Any]]) -> None:
        """Once hits come from a new index (a re-index moved the alias), drop the old one's."""
        names = {raw["_index"] for raw in raws}
        if len(names) != 1:
            return
        (name,) = names
        previous = self._serving.get(alias)
        if previous != name:
            self._serving[alias] = name
            if previous is not None:
                self.cache.drop_index(previous)

    async def _load(self, wanted: dict[ChunkKey, ChunkStamp]) -> dict[ChunkKey, Chunk] | None:
        """These chunks in exactly these versions, now cached; None if one is gone or rewritten."""
        keys = list(wanted)
        docs = [
            {"_index": k.index_name, "_id": doc_id(k.source_id, k.doc_hash, k.ordinal)}
            for k in keys
        ]
        response = await self._client.mget(docs=docs)
        loaded: dict[ChunkKey, Chunk] = {}
        for key, doc in zip(keys, response.body["docs"], strict=True):
            stamp = wanted[key]
            if (
                not doc.get("found")
                or doc.get("_seq_no") != stamp.seq_no
                or doc.get("_primary_term") != stamp.primary_term
            ):
                logger.debug("chunk %s changed since the search", doc.get("_id"))
                return None
            loaded[key] = chunk_from_source(doc["_source"])
        self.cache.put_many({key: (wanted[key], chunk) for key, chunk in loaded.items()})
        return loaded

    async def _full(self, index: str, body: dict[str, Any], *, cosine: bool) -> Found:
        raws = (await self._client.search(index=index, **body)).body["hits"]["hits"]
        found = [
            Hit(chunk_from_source(raw["_source"]), reported_score(raw, cosine=cosine), rank)
            for rank, raw in enumerate(raws, start=1)
        ]
        return Found(found, frozenset(raw["_index"] for raw in raws))
