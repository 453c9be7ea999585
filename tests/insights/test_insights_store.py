"""The insights store contract, run on both implementations: SQLite in the data dir and a
real redis-server."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio

from bot.cache.redis_guard import RedisGuard
from bot.insights.protocol import InsightsStore, QuestionEvent
from bot.insights.redis_store import RedisInsightsStore
from bot.insights.sqlite_store import SqliteInsightsStore
from tests.support.redis_fixtures import RedisServer, private_redis, redis_url  # noqa: F401

RETENTION_S = 3600


def event(kb: str, question: str, *, age_s: float = 0.0, **fields: object) -> QuestionEvent:
    return QuestionEvent(kb=kb, at=time.time() - age_s, question=question, **fields)  # type: ignore[arg-type]


class InsightsStoreContract:
    @pytest.fixture
    async def store(self) -> AsyncIterator[InsightsStore]:
        raise NotImplementedError

    async def test_events_round_trip_oldest_first(self, store: InsightsStore) -> None:
        older = event("acme", "how do I export?", age_s=60, outcome="answered", sources=("a.md",))
        newer = event("acme", "student discount?", outcome="declined", handed_off=True)
        await store.record(newer)
        await store.record(older)
        assert await store.events("acme", since=0) == [older, newer]

    async def test_knowledge_bases_are_kept_apart(self, store: InsightsStore) -> None:
        await store.record(event("acme", "one", outcome="answered"))
        await store.record(event("globex", "two", outcome="declined"))
        assert [e.question for e in await store.events("globex", since=0)] == ["two"]
        assert await store.events("initech", since=0) == []

    async def test_since_and_retention_bound_what_is_read(self, store: InsightsStore) -> None:
        await store.record(event("acme", "expired", age_s=RETENTION_S + 60, outcome="answered"))
        await store.record(event("acme", "last week", age_s=600, outcome="answered"))
        await store.record(event("acme", "just now", outcome="declined"))
        assert [e.question for e in await store.events("acme", since=0)] == [
            "last week",
            "just now",
        ]
        recent = await store.events("acme", since=time.time() - 60)
        assert [e.question for e in recent] == ["just now"]

    async def test_identical_questions_are_separate_events(self, store: InsightsStore) -> None:
        for _ in range(3):
            await store.record(event("acme", "refund?", outcome="declined"))
        assert len(await store.events("acme", since=0)) == 3


class TestSqliteInsightsStore(InsightsStoreContract):
    @pytest.fixture
    async def store(self, tmp_path: Path) -> AsyncIterator[InsightsStore]:
        store = SqliteInsightsStore(tmp_path / "insights.sqlite", retention_s=RETENTION_S)
        yield store
        await store.close()

    async def test_expired_rows_are_deleted_on_write(self, tmp_path: Path) -> None:
        path = tmp_path / "prune.sqlite"
        store = SqliteInsightsStore(path, retention_s=RETENTION_S)
        await store.record(event("acme", "old", age_s=RETENTION_S * 2, outcome="answered"))
        await store.record(event("acme", "new", outcome="answered"))  # first write prunes
        await store.close()
        import sqlite3

        with sqlite3.connect(path) as db:
            (count,) = db.execute("SELECT count(*) FROM question_events").fetchone()
        assert count == 1


@pytest.mark.redis
class TestRedisInsightsStore(InsightsStoreContract):
    @pytest.fixture
    async def store(self, redis_url: str) -> AsyncIterator[InsightsStore]:  # noqa: F811
        client = redis.asyncio.Redis.from_url(redis_url)
        await client.flushdb()
        yield RedisInsightsStore(client, guard=RedisGuard("insights"), retention_s=RETENTION_S)
        await client.flushdb()
        await client.aclose()

    async def test_keys_expire_and_old_members_are_trimmed(self, redis_url: str) -> None:  # noqa: F811
        client = redis.asyncio.Redis.from_url(redis_url)
        try:
            await client.flushdb()
            guard = RedisGuard("insights")
            store = RedisInsightsStore(client, guard=guard, retention_s=RETENTION_S)
            await store.record(event("acme", "old", age_s=RETENTION_S * 2, outcome="answered"))
            await store.record(event("acme", "new", outcome="answered"))
            key = "supportbot:insights:acme"
            assert await client.zcard(key) == 1
            assert 0 < await client.ttl(key) <= RETENTION_S
        finally:
            await client.flushdb()
            await client.aclose()


@pytest.mark.redis
async def test_redis_down_drops_writes_through_the_guard(private_redis: RedisServer) -> None:  # noqa: F811
    """One failure opens the cooldown; later writes are dropped without touching Redis."""
    client = redis.asyncio.Redis.from_url(private_redis.url, socket_timeout=0.25)
    guard = RedisGuard("insights", cooldown_s=30)
    store = RedisInsightsStore(client, guard=guard, retention_s=RETENTION_S)
    try:
        await store.record(event("acme", "kept", outcome="answered"))
        private_redis.stop()
        for _ in range(3):
            await store.record(event("acme", "lost", outcome="answered"))
        assert (store.dropped, guard.failures, guard.bypassed) == (3, 1, 2)
    finally:
        await client.aclose()


def test_a_broken_store_never_fails_the_recorder(tmp_path: Path) -> None:
    from bot.answer import Answer, SearchOutcome
    from bot.insights.recorder import InsightsRecorder

    class Broken:
        name = "broken"

        async def record(self, event: QuestionEvent) -> None:
            raise OSError("disk full")

    async def main() -> None:
        recorder = InsightsRecorder(Broken())  # type: ignore[arg-type]
        search = SearchOutcome("acme", "q", "hybrid", [], False, None, False)
        answer = Answer("text", "declined", [], [], search, handoff_suggested=True)
        recorder.turn("acme", "q", answer, handoff_requested=False, handed_off=False)
        await recorder.drain()  # the failure is logged, not raised

    asyncio.run(main())
