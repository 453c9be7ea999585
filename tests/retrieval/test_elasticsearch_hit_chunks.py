"""Lean searches on a real node: the chunk cache never serves text the index no longer holds.

Each test warms a reader's cache, changes the KB through another backend (another process:
its own client and caches), then checks the reader returns exactly what the full request
shape (the cache off) returns: same chunks, scores and ranks.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from typing import Any

import pytest

from bot.domain import DocumentChunks, EmbeddedChunk, Hit
from bot.retrieval.elasticsearch.search import ElasticsearchSearch
from bot.services import build_backend
from bot.settings import Settings
from tests.support.es_fixtures import (  # noqa: F401 - fixtures
    elasticsearch_url,
    es_backend,
)
from tests.support.search_contract import INFO, make_document, vector_for

pytestmark = pytest.mark.elasticsearch

QUERY = "walrus tusk"


def documents(kb: str, version: str, count: int = 4) -> list[DocumentChunks]:
    return [
        make_document(kb, f"doc-{i}", f"walrus fact {i}", f"tusk note {i}", version=version)
        for i in range(count)
    ]


async def seeded(writer: ElasticsearchSearch, kb: str) -> list[DocumentChunks]:
    """A new KB holding `documents(kb, "v1")`, which it returns."""
    await writer.ensure_kb(kb, INFO)
    written = documents(kb, "v1")
    await writer.upsert_documents(kb, written)
    return written


def same_ids_new_text(document: DocumentChunks, suffix: str) -> DocumentChunks:
    """The document with each chunk's text changed but its identity (and chunk id) kept:
    what re-chunking under other settings writes for an unchanged article."""
    items = [
        EmbeddedChunk(replace(item.chunk, text=f"{item.chunk.text} {suffix}"), item.vector)
        for item in document.chunks
    ]
    return DocumentChunks(document.source_id, document.doc_hash, items)


class Calls:
    """Counts the reader's searches and mgets, passing them on to the node."""

    def __init__(self, es: ElasticsearchSearch, monkeypatch: pytest.MonkeyPatch) -> None:
        self.searches = 0
        self.mgets = 0
        search, mget = es.client.search, es.client.mget

        async def counted_search(**kwargs: Any) -> Any:
            self.searches += 1
            return await search(**kwargs)

        async def counted_mget(**kwargs: Any) -> Any:
            self.mgets += 1
            return await mget(**kwargs)

        monkeypatch.setattr(es.client, "search", counted_search)
        monkeypatch.setattr(es.client, "mget", counted_mget)


@pytest.fixture
async def reader(
    es_backend: ElasticsearchSearch,  # noqa: F811
    elasticsearch_url: str,  # noqa: F811
) -> AsyncIterator[ElasticsearchSearch]:
    search = ElasticsearchSearch(elasticsearch_url, index_prefix=es_backend.index_prefix)
    yield search
    await search.close()


@pytest.fixture
async def full(
    es_backend: ElasticsearchSearch,  # noqa: F811
    elasticsearch_url: str,  # noqa: F811
) -> AsyncIterator[ElasticsearchSearch]:
    """Reads every hit's _source from the node: what the reader must agree with."""
    search = ElasticsearchSearch(
        elasticsearch_url, index_prefix=es_backend.index_prefix, chunk_cache_max_chunks=0
    )
    yield search
    await search.close()


async def both(es: ElasticsearchSearch, kb: str) -> tuple[list[Hit], list[Hit]]:
    return await es.bm25(kb, QUERY, 50), await es.knn(kb, vector_for("walrus fact 1"), 50, INFO)


async def assert_agree(reader: ElasticsearchSearch, full: ElasticsearchSearch, kb: str) -> None:
    lean, expected = await both(reader, kb), await both(full, kb)
    assert lean == expected
    assert all(hits for hits in expected)


def texts(hits: Sequence[Hit]) -> set[str]:
    return {hit.chunk.text for hit in hits}


async def test_repeated_searches_read_text_once_and_equal_the_full_shape(
    es_backend: ElasticsearchSearch,  # noqa: F811
    reader: ElasticsearchSearch,
    full: ElasticsearchSearch,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    kb = "lean"
    await seeded(es_backend, kb)
    calls = Calls(reader, monkeypatch)
    await assert_agree(reader, full, kb)
    # BM25 reads the 8 chunks once; kNN, which finds the same 8, reads none.
    assert (calls.searches, calls.mgets) == (2, 1)
    await assert_agree(reader, full, kb)
    assert (calls.searches, calls.mgets) == (4, 1)
    assert len(reader.hit_chunks.cache) == 8


async def test_a_reindex_that_keeps_chunk_ids_serves_the_new_text(
    es_backend: ElasticsearchSearch,  # noqa: F811
    reader: ElasticsearchSearch,
    full: ElasticsearchSearch,
) -> None:
    kb = "swap"
    old = await seeded(es_backend, kb)
    await assert_agree(reader, full, kb)
    # Same ids, written in the same order (so the same sequence numbers) into a new index.
    build = await es_backend.begin_rebuild(kb, INFO)
    await build.write([same_ids_new_text(d, "rebuilt") for d in old])
    await build.commit()
    await assert_agree(reader, full, kb)
    assert all(text.endswith("rebuilt") for text in texts((await both(reader, kb))[0]))


async def test_a_kb_deleted_and_created_again_under_the_same_index_name_serves_the_new_text(
    es_backend: ElasticsearchSearch,  # noqa: F811
    reader: ElasticsearchSearch,
    full: ElasticsearchSearch,
) -> None:
    kb = "again"
    old = await seeded(es_backend, kb)
    await assert_agree(reader, full, kb)
    await es_backend.delete_kb(kb)
    await es_backend.ensure_kb(kb, INFO)  # `<alias>.initial` again: sequence numbers restart
    await es_backend.upsert_documents(kb, [same_ids_new_text(d, "again") for d in old])
    await assert_agree(reader, full, kb)
    assert all(text.endswith("again") for text in texts((await both(reader, kb))[0]))


async def test_chunks_rewritten_in_place_serve_the_new_text(
    es_backend: ElasticsearchSearch,  # noqa: F811
    reader: ElasticsearchSearch,
    full: ElasticsearchSearch,
) -> None:
    kb = "inplace"
    old = await seeded(es_backend, kb)
    await assert_agree(reader, full, kb)
    await es_backend.upsert_documents(kb, [same_ids_new_text(old[1], "edited")])
    await assert_agree(reader, full, kb)
    assert {"walrus fact 1 edited", "tusk note 1 edited"} <= texts((await both(reader, kb))[0])


async def test_deleted_documents_are_not_served_from_the_cache(
    es_backend: ElasticsearchSearch,  # noqa: F811
    reader: ElasticsearchSearch,
    full: ElasticsearchSearch,
) -> None:
    kb = "deleted"
    await seeded(es_backend, kb)
    await assert_agree(reader, full, kb)
    await es_backend.delete_documents(kb, ["doc-2"])
    await assert_agree(reader, full, kb)
    assert "doc-2" not in {hit.chunk.source_id for hit in (await both(reader, kb))[0]}


@pytest.mark.parametrize("change", ["rewrite", "delete"])
async def test_a_chunk_changed_between_the_search_and_its_mget_is_read_again(
    es_backend: ElasticsearchSearch,  # noqa: F811
    reader: ElasticsearchSearch,
    full: ElasticsearchSearch,
    monkeypatch: pytest.MonkeyPatch,
    change: str,
) -> None:
    kb = "race"
    old = await seeded(es_backend, kb)
    mget = reader.client.mget

    async def changed_first(**kwargs: Any) -> Any:
        if change == "rewrite":
            await es_backend.upsert_documents(kb, [same_ids_new_text(old[0], "raced")])
        else:
            await es_backend.delete_documents(kb, ["doc-0"])
        return await mget(**kwargs)

    monkeypatch.setattr(reader.client, "mget", changed_first)
    lean = await reader.bm25(kb, QUERY, 50)
    monkeypatch.setattr(reader.client, "mget", mget)
    assert lean == await full.bm25(kb, QUERY, 50)
    if change == "rewrite":
        assert "walrus fact 0 raced" in texts(lean)
    else:
        assert "doc-0" not in {hit.chunk.source_id for hit in lean}


async def test_hits_without_identity_doc_values_fall_back_to_the_full_shape(
    es_backend: ElasticsearchSearch,  # noqa: F811
    reader: ElasticsearchSearch,
    full: ElasticsearchSearch,
) -> None:
    kb = "legacy"
    await seeded(es_backend, kb)
    # A chunk written without `indexed_at` (the mapping does not require it).
    alias = es_backend.indexes.names(kb).alias
    await es_backend.client.index(
        index=alias,
        id="manual#0#0",
        refresh=True,
        document={
            "kb_id": kb,
            "source_id": "manual",
            "doc_hash": "0" * 64,
            "ordinal": 0,
            "title": "Manual",
            "headings": [],
            "body": "walrus written by hand",
            "url": None,
            "embedding": [float(x) for x in vector_for("walrus written by hand")],
        },
    )
    await assert_agree(reader, full, kb)
    assert "walrus written by hand" in texts((await both(reader, kb))[0])


async def test_two_documents_claiming_one_chunk_fall_back_to_the_full_shape(
    es_backend: ElasticsearchSearch,  # noqa: F811
    reader: ElasticsearchSearch,
    full: ElasticsearchSearch,
) -> None:
    kb = "twins"
    (first, *_) = await seeded(es_backend, kb)
    twin = first.chunks[0].chunk
    # Written by hand under another _id, with the identity of doc-0's first chunk.
    await es_backend.client.index(
        index=es_backend.indexes.names(kb).alias,
        id="a-twin",
        refresh=True,
        document={
            "kb_id": kb,
            "source_id": twin.source_id,
            "doc_hash": twin.doc_hash,
            "ordinal": twin.ordinal,
            "title": "Twin",
            "headings": [],
            "body": "walrus twin written by hand",
            "url": None,
            "indexed_at": "2026-12-03T00:00:00Z",
            "embedding": [float(x) for x in vector_for("walrus twin")],
        },
    )
    await assert_agree(reader, full, kb)
    assert {"walrus twin written by hand", twin.text} <= texts((await both(reader, kb))[0])


async def test_the_cache_bound_comes_from_settings() -> None:
    settings = Settings(
        _env_file=None,
        search_backend="elasticsearch",
        elasticsearch_url="http://127.0.0.1:9",
        elasticsearch_chunk_cache_max_chunks=7,
    )
    backend = build_backend(settings)
    assert isinstance(backend, ElasticsearchSearch)
    assert backend.hit_chunks.cache.max_chunks == 7
    await backend.close()
