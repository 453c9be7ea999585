"""CachedTokenVectorStore over a real SQLite token store: same matrices as the store,
bounded by bytes, and dropped when anything (this process or another) rewrites rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bot.domain import Chunk
from bot.embedding.sentence_transformer import SentenceTransformerEmbedder
from bot.rerank.late_interaction import LateInteractionReranker
from bot.rerank.token_cache import CachedTokenVectorStore
from bot.rerank.token_store import SqliteTokenVectorStore
from bot.settings import Settings
from tests.rerank.test_late_interaction import CHUNKS, MODEL, make_chunk

DIM = 384


def chunks_and_vectors(count: int, tokens: int = 5, seed: int = 3) -> tuple[list[Chunk], list]:
    rng = np.random.default_rng(seed)
    chunks = [make_chunk(f"passage {seed} {i}", ordinal=i) for i in range(count)]
    return chunks, [rng.normal(size=(tokens, DIM)).astype(np.float32) for _ in chunks]


def sqlite_store(path: Path) -> SqliteTokenVectorStore:
    return SqliteTokenVectorStore(path, model_id=MODEL)


def test_cached_matrices_equal_the_stores_and_are_read_only(tmp_path: Path) -> None:
    path = tmp_path / "token_vectors.sqlite"
    chunks, vectors = chunks_and_vectors(4)
    sqlite_store(path).store(chunks, vectors)
    cached = CachedTokenVectorStore(sqlite_store(path), max_bytes=1 << 20)
    hashes = [c.content_hash for c in chunks] + ["not-stored"]

    first = cached.load(hashes)
    again = cached.load(hashes)
    direct = sqlite_store(path).load(hashes)
    assert set(first) == set(again) == set(direct) == {c.content_hash for c in chunks}
    for content_hash, matrix in direct.items():
        assert np.array_equal(first[content_hash], matrix)
        assert again[content_hash] is first[content_hash]  # served from memory
        assert not again[content_hash].flags.writeable
    assert cached.cached_chunks == 4
    assert cached.cached_bytes == sum(m.nbytes for m in direct.values())


def test_least_recently_used_go_first_within_the_byte_bound(tmp_path: Path) -> None:
    chunks, vectors = chunks_and_vectors(5)
    store = sqlite_store(tmp_path / "t.sqlite")
    store.store(chunks, vectors)
    one = 5 * DIM * 4  # float32 bytes of one 5-token matrix
    cached = CachedTokenVectorStore(store, max_bytes=3 * one)
    hashes = [c.content_hash for c in chunks]

    cached.load(hashes[:3])
    cached.load(hashes[:1])  # the first is now the most recently used
    cached.load(hashes[3:4])  # evicts the second, the least recently used
    assert cached.cached_chunks == 3 and cached.cached_bytes <= 3 * one
    served = cached.load(hashes[:4])
    assert set(served) == set(hashes[:4])  # the evicted one is read from SQLite again
    assert cached.cached_bytes <= 3 * one


def test_rewrite_through_the_cache_replaces_what_it_serves(tmp_path: Path) -> None:
    chunks, vectors = chunks_and_vectors(2)
    cached = CachedTokenVectorStore(sqlite_store(tmp_path / "t.sqlite"), max_bytes=1 << 20)
    cached.store(chunks, vectors)
    before = cached.load([chunks[0].content_hash])[chunks[0].content_hash]

    _, new_vectors = chunks_and_vectors(2, seed=9)
    cached.store(chunks[:1], new_vectors[:1])
    after = cached.load([chunks[0].content_hash])[chunks[0].content_hash]
    assert not np.allclose(before, after)
    assert cached.delete([chunks[1].content_hash]) == 1
    assert cached.load([chunks[1].content_hash]) == {}


def test_a_write_by_another_connection_drops_the_cache(tmp_path: Path) -> None:
    """A re-index in another process (a Celery worker) writes through its own connection."""
    path = tmp_path / "t.sqlite"
    chunks, vectors = chunks_and_vectors(3)
    sqlite_store(path).store(chunks, vectors)
    cached = CachedTokenVectorStore(sqlite_store(path), max_bytes=1 << 20)
    hashes = [c.content_hash for c in chunks]
    cached.load(hashes)

    elsewhere = sqlite_store(path)
    _, rewritten = chunks_and_vectors(1, seed=21)
    elsewhere.store(chunks[:1], rewritten)
    elsewhere.delete([chunks[2].content_hash])
    elsewhere.close()

    now = cached.load(hashes)
    assert set(now) == set(hashes[:2])
    assert np.array_equal(now[hashes[0]], sqlite_store(path).load(hashes[:1])[hashes[0]])


def test_settings_size_the_cache_and_zero_turns_it_off(tmp_path: Path) -> None:
    from bot.services import build_reranker

    for megabytes, expected in ((3, CachedTokenVectorStore), (0, SqliteTokenVectorStore)):
        settings = Settings(
            data_dir=tmp_path / str(megabytes),
            reranker="late-interaction",
            token_cache_mb=megabytes,
        )
        embedder = SentenceTransformerEmbedder(settings.embedding_model)
        sink = build_reranker(settings, embedder, warm=False).token_sink
        assert type(sink) is expected
        if isinstance(sink, CachedTokenVectorStore):
            assert sink.max_bytes == 3 * 1024 * 1024


@pytest.mark.model
def test_reranker_scores_the_same_with_and_without_the_cache(
    embedder: SentenceTransformerEmbedder, tmp_path: Path
) -> None:
    path = tmp_path / "token_vectors.sqlite"
    plain = LateInteractionReranker(embedder, SqliteTokenVectorStore(path))
    cached = LateInteractionReranker(
        embedder, CachedTokenVectorStore(SqliteTokenVectorStore(path), max_bytes=1 << 24)
    )
    query = "how can I promote a coworker to administrator"
    expected = plain.score(query, CHUNKS)  # stores every chunk's vectors (self-healing)
    assert cached.score(query, CHUNKS) == expected
    assert cached.score(query, CHUNKS) == expected  # now from memory
    matches = cached.content_token_matches(query, CHUNKS[0])
    assert matches == plain.content_token_matches(query, CHUNKS[0])
