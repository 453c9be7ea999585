"""Token-bucket rate limiters: same contract in memory, in SQLite and in Redis (atomic Lua)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.cache.rate_limit import (
    InMemoryRateLimiter,
    RateLimit,
    RateLimiter,
    RedisRateLimiter,
)
from bot.cache.redis_client import make_redis_client
from bot.cache.redis_guard import RedisGuard
from bot.cache.sqlite_rate_limit import SqliteRateLimiter
from bot.cache.sqlite_state import STATE_FILENAME
from tests.support.redis_fixtures import RedisServer, private_redis, redis_url  # noqa: F401


class RateLimiterContract:
    limiter: RateLimiter

    async def test_burst_is_allowed_then_refused_with_retry_after(self) -> None:
        # Slow refill: a busy machine may take a second between hits (thread hops, I/O).
        key, limit = uuid.uuid4().hex, RateLimit(per_second=0.5, burst=3)
        decisions = [await self.limiter.hit(key, limit) for _ in range(4)]
        assert [d.allowed for d in decisions] == [True, True, True, False]
        assert [d.remaining for d in decisions[:3]] == [2, 1, 0]
        assert 1.0 < decisions[3].retry_after_s <= 2.0, "one token refills in 2 s"

    async def test_tokens_refill_over_time(self) -> None:
        key, limit = uuid.uuid4().hex, RateLimit(per_second=10.0, burst=2)
        assert (await self.limiter.hit(key, limit, cost=2)).allowed
        assert not (await self.limiter.hit(key, limit)).allowed
        await asyncio.sleep(0.15)
        assert (await self.limiter.hit(key, limit)).allowed

    async def test_keys_have_separate_buckets(self) -> None:
        limit = RateLimit(per_second=0.1, burst=1)
        a, b = uuid.uuid4().hex, uuid.uuid4().hex
        assert (await self.limiter.hit(a, limit)).allowed
        assert not (await self.limiter.hit(a, limit)).allowed
        assert (await self.limiter.hit(b, limit)).allowed

    async def test_cost_above_burst_is_a_programming_error(self) -> None:
        with pytest.raises(ValueError, match="burst"):
            await self.limiter.hit("k", RateLimit(1.0, 2), cost=3)

    async def test_concurrent_hits_never_exceed_the_burst(self) -> None:
        key, limit = uuid.uuid4().hex, RateLimit(per_second=0.01, burst=5)
        decisions = await asyncio.gather(*(self.limiter.hit(key, limit) for _ in range(20)))
        assert sum(d.allowed for d in decisions) == 5


class TestInMemoryRateLimiter(RateLimiterContract):
    @pytest.fixture(autouse=True)
    def _limiter(self) -> None:
        self.limiter = InMemoryRateLimiter()


@pytest.mark.redis
class TestRedisRateLimiter(RateLimiterContract):
    @pytest.fixture(autouse=True)
    async def _limiter(self, redis_url: str) -> AsyncIterator[None]:  # noqa: F811
        client = make_redis_client(redis_url, timeout_s=1.0)
        self.limiter = RedisRateLimiter(
            client, guard=RedisGuard("rate"), prefix=f"test:{uuid.uuid4().hex[:12]}:"
        )
        yield
        await client.aclose(close_connection_pool=True)

    async def test_two_processes_share_one_bucket(self, redis_url: str) -> None:  # noqa: F811
        """Two clients (as two API processes would have) draw from the same bucket."""
        other = make_redis_client(redis_url, timeout_s=1.0)
        prefix = f"test:{uuid.uuid4().hex[:12]}:"
        first = RedisRateLimiter(other, guard=RedisGuard("a"), prefix=prefix)
        second_client = make_redis_client(redis_url, timeout_s=1.0)
        second = RedisRateLimiter(second_client, guard=RedisGuard("b"), prefix=prefix)
        limit = RateLimit(per_second=0.01, burst=4)
        try:
            results = [await (first if i % 2 else second).hit("tenant", limit) for i in range(6)]
            assert [d.allowed for d in results] == [True] * 4 + [False] * 2
        finally:
            await other.aclose(close_connection_pool=True)
            await second_client.aclose(close_connection_pool=True)


@pytest.mark.redis
async def test_redis_down_falls_back_to_a_local_bucket(
    private_redis: RedisServer,  # noqa: F811
) -> None:
    client = make_redis_client(private_redis.url, timeout_s=0.25)
    guard = RedisGuard("rate", cooldown_s=30)
    limiter = RedisRateLimiter(client, guard=guard)
    limit = RateLimit(per_second=0.01, burst=2)
    try:
        assert not (await limiter.hit("k", limit)).degraded
        private_redis.stop()
        decisions = [await limiter.hit("k", limit) for _ in range(3)]
        assert all(d.degraded for d in decisions)
        assert [d.allowed for d in decisions] == [True, True, False], "still limited, locally"
        assert guard.failures == 1, "after one failure Redis is skipped for the cooldown"
    finally:
        await client.aclose(close_connection_pool=True)


class TestSqliteRateLimiter(RateLimiterContract):
    @pytest.fixture(autouse=True)
    async def _limiter(self, tmp_path: Path) -> AsyncIterator[None]:
        self.limiter = SqliteRateLimiter(tmp_path / STATE_FILENAME)
        yield
        await self.limiter.close()

    async def test_two_processes_share_one_bucket(self, tmp_path: Path) -> None:
        """Two limiters on one file (as two API processes have), hitting concurrently."""
        first = SqliteRateLimiter(tmp_path / "shared.sqlite")
        second = SqliteRateLimiter(tmp_path / "shared.sqlite")
        limit = RateLimit(per_second=0.01, burst=6)
        decisions = await asyncio.gather(
            *(limiter.hit("ip:1", limit) for limiter in (first, second) * 10)
        )
        assert sum(d.allowed for d in decisions) == 6
        assert not any(d.degraded for d in decisions)
        await first.close()
        await second.close()

    async def test_an_unusable_file_limits_per_process_and_says_so(self, tmp_path: Path) -> None:
        (tmp_path / "not-a-db").write_text("this is not SQLite", encoding="utf-8")
        limiter = SqliteRateLimiter(tmp_path / "not-a-db")
        decision = await limiter.hit("k", RateLimit(1.0, 2))
        assert decision.allowed and decision.degraded
        await limiter.close()
