"""InMemoryScoreCache: the ScoreCache contract plus LRU bound, TTL and counters."""

from __future__ import annotations

import threading

import pytest

from bot.cache.memory import InMemoryScoreCache


class ManualClock:
    """A clock the test advances by hand, so TTL tests need no sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_round_trip_and_missing_keys() -> None:
    cache = InMemoryScoreCache()
    await cache.set_many({"a": 0.5, "b": -1.25}, ttl_s=60)
    assert await cache.get_many(["a", "missing", "b"]) == [0.5, None, -1.25]
    assert cache.hits == 2
    assert cache.misses == 1


async def test_entries_expire_after_their_ttl() -> None:
    clock = ManualClock()
    cache = InMemoryScoreCache(clock=clock)
    await cache.set_many({"short": 1.0}, ttl_s=10)
    await cache.set_many({"long": 2.0}, ttl_s=100)
    clock.now += 9.9
    assert await cache.get_many(["short", "long"]) == [1.0, 2.0]
    clock.now += 0.2
    assert await cache.get_many(["short", "long"]) == [None, 2.0]
    assert len(cache) == 1, "an expired entry is dropped when read"


async def test_non_positive_ttl_stores_nothing() -> None:
    cache = InMemoryScoreCache()
    await cache.set_many({"a": 1.0}, ttl_s=0)
    assert await cache.get_many(["a"]) == [None]


async def test_least_recently_used_entry_is_evicted_first() -> None:
    cache = InMemoryScoreCache(max_entries=3)
    await cache.set_many({"a": 1.0, "b": 2.0, "c": 3.0}, ttl_s=60)
    await cache.get_many(["a"])  # "a" is now the most recently used
    await cache.set_many({"d": 4.0}, ttl_s=60)
    assert await cache.get_many(["a", "b", "c", "d"]) == [1.0, None, 3.0, 4.0]
    assert cache.stats()["evictions"] == 1
    assert len(cache) == 3


async def test_overwriting_refreshes_value_and_expiry() -> None:
    clock = ManualClock()
    cache = InMemoryScoreCache(clock=clock)
    await cache.set_many({"a": 1.0}, ttl_s=10)
    clock.now += 8
    await cache.set_many({"a": 5.0}, ttl_s=10)
    clock.now += 8
    assert await cache.get_many(["a"]) == [5.0]


async def test_close_empties_the_cache() -> None:
    cache = InMemoryScoreCache()
    await cache.set_many({"a": 1.0}, ttl_s=60)
    await cache.close()
    assert await cache.get_many(["a"]) == [None]


def test_threads_writing_at_once_keep_the_bound() -> None:
    cache = InMemoryScoreCache(max_entries=500)

    def writer(worker: int) -> None:
        for i in range(400):
            cache.set_many_sync({f"{worker}:{i}": float(i)}, ttl_s=60)
            cache.get_many_sync([f"{worker}:{i // 2}"])

    threads = [threading.Thread(target=writer, args=(worker,)) for worker in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stats = cache.stats()
    assert stats["entries"] == 500
    assert stats["evictions"] == 4 * 400 - 500
    assert stats["hits"] + stats["misses"] == 4 * 400


def test_rejects_an_unbounded_size() -> None:
    with pytest.raises(ValueError, match="max_entries"):
        InMemoryScoreCache(max_entries=0)
