"""RedisInsightsStore: question events in one sorted set per KB, scored by time.

Expired members are trimmed on write (ZREMRANGEBYSCORE) and the key itself expires a
retention period after its last write, so an idle KB leaves nothing behind.
Writes go through the shared RedisGuard like every Redis store: while Redis is down they
are dropped (insights are best effort), with one warning per log interval, not one per
question, and no connection attempt per question during the cooldown.
"""

from __future__ import annotations

import time
from typing import Any

from bot.cache.redis_guard import RedisGuard, redis_failures
from bot.errors import BackendUnavailable
from bot.insights.protocol import QuestionEvent

KEY_PREFIX = "supportbot:insights:"


class RedisInsightsStore:
    name = "redis"

    def __init__(self, client: Any, *, guard: RedisGuard, retention_s: int) -> None:
        self._redis = client
        self._guard = guard
        self._retention_s = retention_s
        self.dropped = 0
        """Events not recorded because Redis was down or slow."""

    async def record(self, event: QuestionEvent) -> None:
        if not self._guard.available():
            self.dropped += 1
            return
        key = KEY_PREFIX + event.kb
        cutoff = time.time() - self._retention_s
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.zadd(key, {event.to_json(): event.at})
                pipe.zremrangebyscore(key, "-inf", f"({cutoff}")
                pipe.expire(key, self._retention_s)
                await pipe.execute()
        except redis_failures() as exc:
            self.dropped += 1
            self._guard.failed("insights write", exc)

    async def events(self, kb: str, since: float) -> list[QuestionEvent]:
        since = max(since, time.time() - self._retention_s)
        try:
            members = await self._redis.zrangebyscore(KEY_PREFIX + kb, since, "+inf")
        except redis_failures() as exc:
            raise BackendUnavailable(f"insights are unreadable: Redis failed ({exc})") from exc
        return [QuestionEvent.from_json(member) for member in members]

    async def close(self) -> None:
        return None  # the shared client is closed by Services
