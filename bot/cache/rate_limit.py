"""Token-bucket rate limits: in-process by default, shared through Redis when configured.

A bucket holds at most `burst` tokens and refills at `per_second`; each request takes
`cost`. The Redis version runs the whole read-refill-take-write in one Lua script (atomic,
one round trip, Redis's own clock so every API process agrees). When Redis is down it
falls back to a per-process bucket: limits get looser, requests never fail because of it.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from bot.cache.redis_guard import RedisGuard, redis_failures

if TYPE_CHECKING:
    import redis.asyncio


@dataclass(frozen=True, slots=True)
class RateLimit:
    per_second: float
    burst: int

    def __post_init__(self) -> None:
        if self.per_second <= 0 or self.burst < 1:
            raise ValueError("a rate limit needs per_second > 0 and burst >= 1")

    @classmethod
    def per_minute(cls, requests: float, burst: int) -> RateLimit:
        return cls(requests / 60.0, burst)


@dataclass(frozen=True, slots=True)
class RateDecision:
    allowed: bool
    remaining: int
    """Whole tokens left after this request."""
    retry_after_s: float
    """0 when allowed; otherwise how long until `cost` tokens are back."""
    degraded: bool = False
    """True when the shared store was unreachable and a per-process bucket decided."""


class RateLimiter(Protocol):
    name: str

    async def hit(self, key: str, limit: RateLimit, cost: int = 1) -> RateDecision:
        """Take `cost` tokens from `key`'s bucket if it has them; never raises for I/O."""
        ...

    async def close(self) -> None: ...


def _check_cost(limit: RateLimit, cost: int) -> None:
    if cost < 1 or cost > limit.burst:
        raise ValueError(f"cost must be between 1 and the burst ({limit.burst}), got {cost}")


class InMemoryRateLimiter:
    name = "memory"

    def __init__(
        self, *, max_keys: int = 100_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._max_keys = max_keys
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # tokens, at

    async def hit(self, key: str, limit: RateLimit, cost: int = 1) -> RateDecision:
        return self.hit_sync(key, limit, cost)

    def hit_sync(self, key: str, limit: RateLimit, cost: int = 1) -> RateDecision:
        _check_cost(limit, cost)
        now = self._clock()
        with self._lock:
            tokens, at = self._buckets.get(key, (float(limit.burst), now))
            tokens = min(float(limit.burst), tokens + max(0.0, now - at) * limit.per_second)
            allowed = tokens >= cost
            if allowed:
                tokens -= cost
            self._buckets[key] = (tokens, now)
            self._buckets.move_to_end(key)
            while len(self._buckets) > self._max_keys:
                self._buckets.popitem(last=False)
        retry = 0.0 if allowed else (cost - tokens) / limit.per_second
        return RateDecision(allowed, math.floor(tokens), retry)

    async def close(self) -> None:
        with self._lock:
            self._buckets.clear()


# KEYS[1] = bucket; ARGV = per_second, burst, cost. Returns {allowed, tokens, retry_ms}.
_TOKEN_BUCKET_LUA = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000 + math.floor(tonumber(now_parts[2]) / 1000)
local rate = tonumber(ARGV[1]) / 1000
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1])
local at = tonumber(state[2])
if tokens == nil or at == nil then
  tokens = burst
  at = now
end
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local allowed = 0
local retry_ms = 0
if tokens >= cost then
  tokens = tokens - cost
  allowed = 1
else
  retry_ms = math.ceil((cost - tokens) / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate) + 1000)
return {allowed, tostring(tokens), retry_ms}
"""


class RedisRateLimiter:
    name = "redis"

    def __init__(
        self,
        client: redis.asyncio.Redis,
        *,
        guard: RedisGuard,
        prefix: str = "supportbot:ratelimit:",
        fallback: InMemoryRateLimiter | None = None,
    ) -> None:
        self._script = client.register_script(_TOKEN_BUCKET_LUA)
        self._guard = guard
        self._prefix = prefix
        self._fallback = fallback or InMemoryRateLimiter()

    async def hit(self, key: str, limit: RateLimit, cost: int = 1) -> RateDecision:
        _check_cost(limit, cost)
        if self._guard.available():
            try:
                allowed, tokens, retry_ms = await self._script(
                    keys=[self._prefix + key], args=[limit.per_second, limit.burst, cost]
                )
            except redis_failures() as exc:
                self._guard.failed("rate limit", exc)
            else:
                return RateDecision(
                    bool(allowed), math.floor(float(tokens)), int(retry_ms) / 1000.0
                )
        local = self._fallback.hit_sync(key, limit, cost)
        return RateDecision(local.allowed, local.remaining, local.retry_after_s, degraded=True)

    async def close(self) -> None:
        """The client belongs to the composition root."""
