"""InMemoryScoreCache: the score cache when no Redis is configured.

A bounded LRU with a per-entry expiry time. One lock guards it, so the event loop
and worker threads (late results written back from the rerank executor) can share
it; every operation is O(keys) dictionary work, so holding the lock is brief.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence


class InMemoryScoreCache:
    name = "memory"

    def __init__(
        self, max_entries: int = 100_000, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, float]] = (
            OrderedDict()
        )  # key -> (score, expires)
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        self.evictions = 0

    async def get_many(self, keys: Sequence[str]) -> list[float | None]:
        return self.get_many_sync(keys)

    async def set_many(self, scores: Mapping[str, float], ttl_s: int) -> None:
        self.set_many_sync(scores, ttl_s)

    async def close(self) -> None:
        with self._lock:
            self._entries.clear()

    # -- synchronous core (also usable from threads) -------------------------------
    def get_many_sync(self, keys: Sequence[str]) -> list[float | None]:
        now = self._clock()
        found: list[float | None] = []
        with self._lock:
            for key in keys:
                entry = self._entries.get(key)
                if entry is None:
                    found.append(None)
                    continue
                score, expires = entry
                if expires <= now:
                    del self._entries[key]
                    found.append(None)
                    continue
                self._entries.move_to_end(key)
                found.append(score)
            hits = sum(value is not None for value in found)
            self.hits += hits
            self.misses += len(found) - hits
        return found

    def set_many_sync(self, scores: Mapping[str, float], ttl_s: int) -> None:
        if ttl_s <= 0 or not scores:
            return
        expires = self._clock() + ttl_s
        with self._lock:
            for key, score in scores.items():
                self._entries[key] = (float(score), expires)
                self._entries.move_to_end(key)
            overflow = len(self._entries) - self.max_entries
            for _ in range(max(overflow, 0)):
                self._entries.popitem(last=False)
            self.evictions += max(overflow, 0)

    def __len__(self) -> int:
        return len(self._entries)

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {
                "entries": len(self._entries),
                "max_entries": self.max_entries,
                "hits": self.hits,
                "misses": self.misses,
                "evictions": self.evictions,
            }
