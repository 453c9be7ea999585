"""One pooled redis-py asyncio client, shared by the score cache, conversations and rate limits.

Built by the composition root; nothing connects until the first command. Timeouts are
short and retries off, because every caller has a fallback: waiting for Redis longer
than `timeout_s` would cost more than going without it.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff


def make_redis_client(
    url: str, *, timeout_s: float, max_connections: int = 50, **connection_kwargs: Any
) -> redis.asyncio.Redis:
    """A client over a blocking pool: at most `max_connections`, waiting `timeout_s` for one."""
    pool: redis.asyncio.BlockingConnectionPool = redis.asyncio.BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=timeout_s,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        retry=Retry(NoBackoff(), 0),
        health_check_interval=30,
        **connection_kwargs,
    )
    return redis.asyncio.Redis(connection_pool=pool)
