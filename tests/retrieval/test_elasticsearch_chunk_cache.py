"""The Elasticsearch backend's ChunkCache: serves a chunk only in the version it was read in."""

from __future__ import annotations

import pytest

from bot.domain import Chunk
from bot.retrieval.elasticsearch.chunk_cache import ChunkCache, ChunkKey, ChunkStamp


def chunk(n: int, text: str = "") -> Chunk:
    return Chunk(
        kb="alpha",
        source_id=f"doc-{n}",
        ordinal=0,
        title="Title",
        heading_path=(),
        text=text or f"text {n}",
        url=None,
        doc_hash="h",
    )


def key(n: int, index: str = "p-kb-alpha.1") -> ChunkKey:
    return ChunkKey(index, f"doc-{n}", "h", 0)


def held(cache: ChunkCache, key: ChunkKey, stamp: ChunkStamp) -> Chunk | None:
    return cache.get({key: stamp}).get(key)


STAMP = ChunkStamp(seq_no=3, primary_term=1, indexed_at="2026-12-03T18:00:00.000Z")


def test_a_chunk_is_served_only_for_the_version_it_was_read_in() -> None:
    cache = ChunkCache()
    cache.put(key(1), STAMP, chunk(1))
    assert held(cache, key(1), STAMP) == chunk(1)
    assert held(cache, key(1), ChunkStamp(4, 1, STAMP.indexed_at)) is None  # rewritten
    assert held(cache, key(1), ChunkStamp(3, 2, STAMP.indexed_at)) is None  # new primary
    assert held(cache, key(1), ChunkStamp(3, 1, "2026-12-03T18:00:01.000Z")) is None  # new index
    assert held(cache, key(1, index="p-kb-alpha.2"), STAMP) is None  # another index


def test_the_bound_drops_the_least_recently_used() -> None:
    cache = ChunkCache(max_chunks=2)
    cache.put(key(1), STAMP, chunk(1))
    cache.put(key(2), STAMP, chunk(2))
    assert held(cache, key(1), STAMP) is not None  # 2 is now the oldest
    cache.put(key(3), STAMP, chunk(3))
    assert len(cache) == 2
    assert held(cache, key(2), STAMP) is None
    assert held(cache, key(1), STAMP) is not None


def test_a_zero_bound_disables_the_cache_and_a_negative_one_is_refused() -> None:
    cache = ChunkCache(max_chunks=0)
    cache.put(key(1), STAMP, chunk(1))
    assert not cache.enabled and len(cache) == 0
    with pytest.raises(ValueError, match="max_chunks"):
        ChunkCache(max_chunks=-1)


def test_indices_are_dropped_one_at_a_time_or_per_kb() -> None:
    cache = ChunkCache()
    for index in ("p-kb-alpha.1", "p-kb-alpha.2", "p-kb-alphabet.1"):
        cache.put(key(1, index), STAMP, chunk(1))
    cache.drop_index("p-kb-alpha.1")
    assert held(cache, key(1, "p-kb-alpha.1"), STAMP) is None
    assert held(cache, key(1, "p-kb-alpha.2"), STAMP) is not None
    cache.drop_indices_of("p-kb-alpha")
    assert held(cache, key(1, "p-kb-alpha.2"), STAMP) is None
    assert held(cache, key(1, "p-kb-alphabet.1"), STAMP) is not None  # another KB's index
