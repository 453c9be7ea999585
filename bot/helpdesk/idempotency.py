"""Idempotency for webhook deliveries: the same event delivered twice is handled once.

`claim` marks a key as in progress (SET NX with a short TTL); `complete` keeps it for the
long retention TTL; `release` forgets it after a failure so the sender's retry can try
again. With Redis down, the in-process store decides, which still catches the common case
of a retry reaching the same process.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from bot.cache.redis_guard import RedisGuard, redis_failures

if TYPE_CHECKING:
    import redis.asyncio

IN_PROGRESS_TTL_S = 120
"""A claim left behind by a crashed process expires after this."""


class IdempotencyStore(Protocol):
    name: str

    async def claim(self, key: str) -> bool:
        """True if this caller is the first to see `key` (and now owns it)."""
        ...

    async def complete(self, key: str, ttl_s: int) -> None: ...

    async def release(self, key: str) -> None: ...

    async def close(self) -> None: ...


class InMemoryIdempotencyStore:
    name = "memory"

    def __init__(
        self, *, max_keys: int = 100_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._max_keys = max_keys
        self._clock = clock
        self._lock = threading.Lock()
        self._expiry: OrderedDict[str, float] = OrderedDict()

    async def claim(self, key: str) -> bool:
        now = self._clock()
        with self._lock:
            expires = self._expiry.get(key)
            if expires is not None and expires > now:
                return False
            self._set(key, now + IN_PROGRESS_TTL_S)
            return True

    async def complete(self, key: str, ttl_s: int) -> None:
        with self._lock:
            self._set(key, self._clock() + ttl_s)

    async def release(self, key: str) -> None:
        with self._lock:
            self._expiry.pop(key, None)

    async def close(self) -> None:
        with self._lock:
            self._expiry.clear()

    def _set(self, key: str, expires: float) -> None:
        self._expiry[key] = expires
        self._expiry.move_to_end(key)
        while len(self._expiry) > self._max_keys:
            self._expiry.popitem(last=False)


class RedisIdempotencyStore:
    name = "redis"

    def __init__(
        self,
        client: redis.asyncio.Redis,
        *,
        guard: RedisGuard,
        prefix: str = "supportbot:idempotency:",
        fallback: InMemoryIdempotencyStore | None = None,
    ) -> None:
        self._client = client
        self._guard = guard
        self._prefix = prefix
        self._fallback = fallback or InMemoryIdempotencyStore()

    async def claim(self, key: str) -> bool:
        if self._guard.available():
            try:
                created = await self._client.set(
                    self._prefix + key, "in-progress", nx=True, ex=IN_PROGRESS_TTL_S
                )
            except redis_failures() as exc:
                self._guard.failed("idempotency claim", exc)
            else:
                return bool(created)
        return await self._fallback.claim(key)

    async def complete(self, key: str, ttl_s: int) -> None:
        await self._fallback.complete(key, ttl_s)
        if self._guard.available():
            try:
                await self._client.set(self._prefix + key, "done", ex=ttl_s)
            except redis_failures() as exc:
                self._guard.failed("idempotency complete", exc)

    async def release(self, key: str) -> None:
        await self._fallback.release(key)
        if self._guard.available():
            try:
                await self._client.delete(self._prefix + key)
            except redis_failures() as exc:
                self._guard.failed("idempotency release", exc)

    async def close(self) -> None:
        """The client belongs to the composition root."""
