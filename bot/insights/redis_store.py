"""RedisInsightsStore: question events in one sorted set per KB, scored by time.

Expired members are trimmed on write (ZREMRANGEBYSCORE) and the key itself expires a
retention period after its last write, so an idle KB leaves nothing behind.
"""

from __future__ import annotations

import time
from typing import Any

from bot.cache.redis_guard import redis_failures
from bot.errors import BackendUnavailable
from bot.insights.protocol import QuestionEvent

KEY_PREFIX = "supportbot:insights:"


class RedisInsightsStore:
    name = "redis"

    def __init__(self, client: Any, *, retention_s: int) -> None:
        self._redis = client
        self._retention_s = retention_s

    async def record(self, event: QuestionEvent) -> None:
        key = KEY_PREFIX + event.kb
        cutoff = time.time() - self._retention_s
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.zadd(key, {event.to_json(): event.at})
            pipe.zremrangebyscore(key, "-inf", f"({cutoff}")
            pipe.expire(key, self._retention_s)
            await pipe.execute()

    async def events(self, kb: str, since: float) -> list[QuestionEvent]:
        since = max(since, time.time() - self._retention_s)
        try:
            members = await self._redis.zrangebyscore(KEY_PREFIX + kb, since, "+inf")
        except redis_failures() as exc:
            raise BackendUnavailable(f"insights are unreadable: Redis failed ({exc})") from exc
        return [QuestionEvent.from_json(member) for member in members]

    async def close(self) -> None:
        return None  # the shared client is closed by Services
