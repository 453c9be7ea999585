"""RedisScoreCache: rerank scores shared by every API process, one round trip per direction.

Keys come from the rerank stage (reranker name and model + query digest + chunk content
hash), so a score is reused whenever the same query meets the same chunk text again,
across processes and across re-indexes that leave the text unchanged. Reads are one
MGET; writes are one pipelined batch of `SET key score EX ttl`. Redis being down or slow
reads as misses (the reranker scores everything) and is counted, never raised.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import redis.asyncio

from bot.cache.redis_guard import RedisGuard, redis_failures


class RedisScoreCache:
    name = "redis"

    def __init__(
        self, client: redis.asyncio.Redis, *, prefix: str = "supportbot:", guard: RedisGuard
    ) -> None:
        """`client` is shared and owned by the caller; `close` leaves it open."""
        self._client = client
        self._prefix = prefix
        self._guard = guard
        self.hits = 0
        self.misses = 0
        self.bypassed_lookups = 0

    async def get_many(self, keys: Sequence[str]) -> list[float | None]:
        if not keys:
            return []
        if not self._guard.available():
            self.bypassed_lookups += 1
            return [None] * len(keys)
        try:
            raw = await self._client.mget([self._prefix + key for key in keys])
        except redis_failures() as exc:
            self._guard.failed("score cache read", exc)
            self.bypassed_lookups += 1
            return [None] * len(keys)
        found = [_as_score(value) for value in raw]
        hits = sum(value is not None for value in found)
        self.hits += hits
        self.misses += len(found) - hits
        return found

    async def set_many(self, scores: Mapping[str, float], ttl_s: int) -> None:
        if not scores or ttl_s <= 0 or not self._guard.available():
            return
        pipe = self._client.pipeline(transaction=False)
        for key, score in scores.items():
            pipe.set(self._prefix + key, repr(float(score)), ex=ttl_s)
        try:
            await pipe.execute()
        except redis_failures() as exc:
            self._guard.failed("score cache write", exc)

    async def close(self) -> None:
        """The client belongs to the composition root, which closes it once."""

    def stats(self) -> dict[str, object]:
        return {
            "hits": self.hits,
            "misses": self.misses,
            "bypassed_lookups": self.bypassed_lookups,
            **self._guard.stats(),
        }


def _as_score(value: bytes | str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None
