"""RedisScoreCache against a real redis-server: contract, round trips, TTL, outages."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio
from redis.asyncio.connection import Connection

from bot.api.app import create_app
from bot.cache.memory import InMemoryScoreCache
from bot.cache.protocol import ScoreCache
from bot.cache.redis_cache import RedisScoreCache
from bot.cache.redis_client import make_redis_client
from bot.cache.redis_guard import RedisGuard
from bot.settings import Settings
from tests.support.admin_client import ADMIN_KEY, AUTH, wait_job
from tests.support.kb_corpus import article
from tests.support.live_server import serve
from tests.support.redis_fixtures import RedisServer, private_redis, redis_url  # noqa: F401

pytestmark = pytest.mark.redis


class CountingConnection(Connection):
    """Counts network round trips: one `send_packed_command` per request or pipeline."""

    sends = 0

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        type(self).sends += 1
        await super().send_packed_command(command, check_health)


def unique_prefix() -> str:
    return f"test:{uuid.uuid4().hex[:12]}:"


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[redis.asyncio.Redis]:  # noqa: F811
    client = make_redis_client(redis_url, timeout_s=1.0)
    yield client
    await client.aclose(close_connection_pool=True)


class ScoreCacheContract:
    """What every ScoreCache promises; subclasses provide `cache`."""

    async def test_round_trip_and_missing_keys(self, cache: ScoreCache) -> None:
        await cache.set_many({"a": 0.5, "b": -1.25}, ttl_s=60)
        assert await cache.get_many(["a", "missing", "b"]) == [0.5, None, -1.25]

    async def test_empty_lookup(self, cache: ScoreCache) -> None:
        assert await cache.get_many([]) == []

    async def test_overwrite_keeps_latest(self, cache: ScoreCache) -> None:
        await cache.set_many({"k": 1.0}, ttl_s=60)
        await cache.set_many({"k": 2.5}, ttl_s=60)
        assert await cache.get_many(["k"]) == [2.5]

    async def test_scores_keep_full_precision(self, cache: ScoreCache) -> None:
        value = 0.1234567890123456789
        await cache.set_many({"p": value, "neg": -7.5e-12}, ttl_s=60)
        assert await cache.get_many(["p", "neg"]) == [value, -7.5e-12]

    async def test_non_positive_ttl_stores_nothing(self, cache: ScoreCache) -> None:
        await cache.set_many({"z": 1.0}, ttl_s=0)
        assert await cache.get_many(["z"]) == [None]


class TestInMemoryContract(ScoreCacheContract):
    @pytest.fixture
    def cache(self) -> InMemoryScoreCache:
        return InMemoryScoreCache()


class TestRedisContract(ScoreCacheContract):
    @pytest.fixture
    def cache(self, client: redis.asyncio.Redis) -> RedisScoreCache:
        return RedisScoreCache(client, prefix=unique_prefix(), guard=RedisGuard("cache"))


async def test_fifty_candidates_cost_one_round_trip_each_way(redis_url: str) -> None:  # noqa: F811
    client = make_redis_client(redis_url, timeout_s=1.0, connection_class=CountingConnection)
    cache = RedisScoreCache(client, prefix=unique_prefix(), guard=RedisGuard("cache"))
    keys = [f"rerank:model:q:{i}" for i in range(50)]
    try:
        await client.ping()  # open the connection (and its handshake) outside the count
        CountingConnection.sends = 0
        assert await cache.get_many(keys) == [None] * 50
        assert CountingConnection.sends == 1, "a 50-key lookup is one MGET"

        CountingConnection.sends = 0
        await cache.set_many({key: i / 10 for i, key in enumerate(keys[:30])}, ttl_s=60)
        assert CountingConnection.sends == 1, "writing 30 misses is one pipelined batch"

        CountingConnection.sends = 0
        found = await cache.get_many(keys)
        assert CountingConnection.sends == 1
        assert found == [i / 10 for i in range(30)] + [None] * 20
        assert (cache.hits, cache.misses) == (30, 70)
    finally:
        await client.aclose(close_connection_pool=True)


async def test_server_sees_one_mget_for_a_lookup(private_redis: RedisServer) -> None:  # noqa: F811
    """Server-side count (INFO commandstats) on a server nothing else talks to."""
    client = make_redis_client(private_redis.url, timeout_s=1.0)
    cache = RedisScoreCache(client, guard=RedisGuard("cache"))
    try:
        await cache.set_many({f"k{i}": float(i) for i in range(50)}, ttl_s=60)
        await client.config_resetstat()
        assert await cache.get_many([f"k{i}" for i in range(50)]) == [float(i) for i in range(50)]
        stats = await client.info("commandstats")
        assert stats["cmdstat_mget"]["calls"] == 1
        assert "cmdstat_get" not in stats
    finally:
        await client.aclose(close_connection_pool=True)


async def test_entries_carry_the_ttl_and_expire(client: redis.asyncio.Redis) -> None:
    prefix = unique_prefix()
    cache = RedisScoreCache(client, prefix=prefix, guard=RedisGuard("cache"))
    await cache.set_many({"long": 1.0}, ttl_s=3600)
    await cache.set_many({"short": 2.0}, ttl_s=1)
    assert 3590 <= await client.ttl(prefix + "long") <= 3600
    assert await cache.get_many(["short"]) == [2.0]
    await asyncio.sleep(1.2)
    assert await cache.get_many(["short", "long"]) == [None, 1.0]


async def test_stopped_redis_reads_as_misses_is_counted_and_logged_once(
    private_redis: RedisServer,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = make_redis_client(private_redis.url, timeout_s=0.25)
    guard = RedisGuard("cache", cooldown_s=0.2, log_interval_s=60)
    cache = RedisScoreCache(client, guard=guard)
    try:
        await cache.set_many({"a": 1.0}, ttl_s=60)
        assert await cache.get_many(["a"]) == [1.0]
        private_redis.stop()
        caplog.set_level(logging.WARNING, logger="bot.cache.redis_guard")
        for _ in range(3):
            assert await cache.get_many(["a", "b"]) == [None, None]
            await cache.set_many({"b": 2.0}, ttl_s=60)  # swallowed
            await asyncio.sleep(0.25)  # past the cooldown: the next call tries Redis again
        assert guard.failures >= 3
        assert cache.bypassed_lookups == 3
        warnings = [r for r in caplog.records if "unavailable" in r.getMessage()]
        assert len(warnings) == 1, "logged once per interval, not once per failure"

        private_redis.start()
        await asyncio.sleep(0.25)
        await cache.set_many({"a": 3.0}, ttl_s=60)
        assert await cache.get_many(["a"]) == [3.0], "the cache recovers by itself"
    finally:
        await client.aclose(close_connection_pool=True)


async def test_slow_redis_times_out_into_misses(private_redis: RedisServer) -> None:  # noqa: F811
    client = make_redis_client(private_redis.url, timeout_s=0.2)
    admin = make_redis_client(private_redis.url, timeout_s=2.0)
    guard = RedisGuard("cache", cooldown_s=5.0)
    cache = RedisScoreCache(client, guard=guard)
    try:
        await cache.set_many({"a": 1.0}, ttl_s=60)
        await admin.execute_command("CLIENT", "PAUSE", 1500, "ALL")
        loop = asyncio.get_running_loop()
        started = loop.time()
        assert await cache.get_many(["a"]) == [None]
        assert loop.time() - started < 1.0, "the lookup gave up after its timeout"
        started = loop.time()
        assert await cache.get_many(["a"]) == [None]
        assert loop.time() - started < 0.05, "during the cooldown Redis is not even tried"
        assert guard.failures == 1 and guard.bypassed == 1
    finally:
        await admin.execute_command("CLIENT", "UNPAUSE")
        await admin.aclose(close_connection_pool=True)
        await client.aclose(close_connection_pool=True)


@pytest.mark.model
def test_api_keeps_answering_when_redis_stops(
    private_redis: RedisServer,  # noqa: F811
    tmp_path: Path,
) -> None:
    """Score cache, conversations and rate limits all on Redis; Redis dies; requests still 200."""
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        data_dir=tmp_path / "data",
        redis_url=private_redis.url,
        redis_cooldown_s=0.5,
        reranker="late-interaction",
        admin_api_key=ADMIN_KEY,
    )
    app = create_app(settings)
    with serve(app) as url, httpx.Client(base_url=url, timeout=60) as client:
        assert client.post("/admin/kbs", json={"kb": "kb"}, headers=AUTH).status_code == 201
        files = [("files", (f"a{i}.md", article(i).encode(), "text/markdown")) for i in range(4)]
        job = client.post("/admin/kbs/kb/uploads", files=files, headers=AUTH).json()["job"]
        assert wait_job(client, job["id"])["state"] == "succeeded"
        services = app.state.services
        query = {"kb": "kb", "query": "how does topic2 billing work"}
        chat = {"kb": "kb", "message": "how does topic2 work", "conversation_id": "conv-000001"}

        first = client.post("/v1/search", json=query, headers=AUTH).json()
        second = client.post("/v1/search", json=query, headers=AUTH).json()
        assert first["reranked"] and second["reranked"]
        assert services.cache.hits >= len(second["results"]), "the repeat was served from Redis"
        assert client.post("/v1/chat", json=chat, headers=AUTH).json()["degraded"] == []

        private_redis.stop()
        down = client.post("/v1/search", json=query, headers=AUTH)
        assert down.status_code == 200 and down.json()["reranked"] is True
        chatted = client.post("/v1/chat", json=chat, headers=AUTH)
        assert chatted.status_code == 200
        assert any("history unavailable" in note for note in chatted.json()["degraded"])
        anonymous = client.post("/v1/search", json=query)
        assert anonymous.status_code == 200, "rate limits fall back to a local bucket"
        ready = client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["components"]["redis"]["ok"] is False
        assert services.cache.bypassed_lookups >= 1

        private_redis.start()
        time.sleep(0.6)  # past the cooldown
        client.post("/v1/search", json={**query, "query": "topic3 export"}, headers=AUTH)
        assert client.get("/readyz").json()["components"]["redis"]["ok"] is True
        history = client.post("/v1/chat", json=chat, headers=AUTH)
        assert history.status_code == 200 and history.json()["degraded"] == []
