"""ChunkCache: loads only what it lacks, per snapshot, within its bound."""

from __future__ import annotations

import pytest

from bot.domain import Chunk
from bot.retrieval.embedded.chunk_cache import ChunkCache


def chunk(row: int, text: str = "") -> Chunk:
    return Chunk(
        kb="alpha",
        source_id=f"doc-{row}",
        ordinal=0,
        title="Title",
        heading_path=(),
        text=text or f"text {row}",
        url=None,
        doc_hash="h",
    )


class Loader:
    """Records which rows each load was asked for."""

    def __init__(self, text: str = "") -> None:
        self.calls: list[list[int]] = []
        self.text = text

    def __call__(self, rows: list[int]) -> dict[int, Chunk]:
        self.calls.append(rows)
        return {row: chunk(row, self.text) for row in rows}


def test_only_missing_rows_are_loaded_once() -> None:
    cache, load = ChunkCache(), Loader()
    assert cache.get("alpha", 1, 0, [3, 1], load) == {3: chunk(3), 1: chunk(1)}
    assert cache.get("alpha", 1, 0, [1, 2, 3, 2], load) == {1: chunk(1), 2: chunk(2), 3: chunk(3)}
    assert load.calls == [[3, 1], [2]]


def test_a_new_generation_or_index_loads_again() -> None:
    cache, old, new = ChunkCache(), Loader("old"), Loader("new")
    cache.get("alpha", 1, 0, [1], old)
    assert cache.get("alpha", 1, 1, [1], new)[1].text == "new"
    assert cache.get("alpha", 2, 1, [1], new)[1].text == "new"
    assert new.calls == [[1], [1]]
    assert cache.get("alpha", 2, 1, [1], old)[1].text == "new"  # cached: no load


def test_kbs_are_cached_apart_and_forgotten() -> None:
    cache, load = ChunkCache(), Loader()
    cache.get("alpha", 1, 0, [1], load)
    cache.get("beta", 2, 0, [1], load)
    cache.forget("alpha")
    cache.get("alpha", 1, 0, [1], load)
    cache.get("beta", 2, 0, [1], load)
    assert load.calls == [[1], [1], [1]]


def test_least_recently_used_rows_go_first_over_the_bound() -> None:
    cache, load = ChunkCache(max_chunks=2), Loader()
    cache.get("alpha", 1, 0, [1, 2], load)
    cache.get("alpha", 1, 0, [1], load)  # 1 is now the most recent
    cache.get("alpha", 1, 0, [3], load)  # evicts 2
    cache.get("alpha", 1, 0, [1, 2], load)
    assert load.calls == [[1, 2], [3], [2]]


def test_a_load_for_a_replaced_snapshot_is_not_kept() -> None:
    cache = ChunkCache()

    def stale_load(rows: list[int]) -> dict[int, Chunk]:
        cache.get("alpha", 1, 1, [], Loader())  # a write moved the KB on meanwhile
        return {row: chunk(row, "stale") for row in rows}

    assert cache.get("alpha", 1, 0, [1], stale_load)[1].text == "stale"
    assert cache.get("alpha", 1, 1, [1], Loader("fresh"))[1].text == "fresh"


def test_a_negative_bound_is_refused() -> None:
    with pytest.raises(ValueError, match="max_chunks"):
        ChunkCache(max_chunks=-1)
