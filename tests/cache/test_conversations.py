"""Conversation stores: one contract for the in-memory, SQLite and Redis implementations."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio

from bot.cache.conversations import (
    ConversationStore,
    InMemoryConversationStore,
    RedisConversationStore,
)
from bot.cache.redis_client import make_redis_client
from bot.cache.redis_guard import RedisGuard
from bot.cache.sqlite_conversations import SqliteConversationStore
from bot.generation.protocol import Turn
from tests.support.redis_fixtures import RedisServer, private_redis, redis_url  # noqa: F401


def ask(text: str) -> Turn:
    return Turn("user", text)


def reply(text: str) -> Turn:
    return Turn("assistant", text)


class ConversationContract:
    """Subclasses provide `make_store(max_turns, ttl_s)`."""

    def make_store(self, max_turns: int, ttl_s: int) -> ConversationStore:
        raise NotImplementedError

    async def test_new_conversation_is_empty(self) -> None:
        store = self.make_store(10, 60)
        assert await store.load("kb", uuid.uuid4().hex) == []

    async def test_turns_come_back_in_order(self) -> None:
        store, cid = self.make_store(10, 60), uuid.uuid4().hex
        assert await store.append("kb", cid, [ask("How do I reset my password?"), reply("Go…")])
        assert await store.append("kb", cid, [ask("And on mobile? ✓")])
        assert await store.load("kb", cid) == [
            ask("How do I reset my password?"),
            reply("Go…"),
            ask("And on mobile? ✓"),
        ]

    async def test_history_is_capped_to_the_latest_turns(self) -> None:
        store, cid = self.make_store(4, 60), uuid.uuid4().hex
        for i in range(5):
            await store.append("kb", cid, [ask(f"q{i}"), reply(f"a{i}")])
        assert await store.load("kb", cid) == [ask("q3"), reply("a3"), ask("q4"), reply("a4")]

    async def test_conversations_are_separate_per_kb_and_id(self) -> None:
        store, cid = self.make_store(10, 60), uuid.uuid4().hex
        await store.append("kb-a", cid, [ask("a")])
        await store.append("kb-b", cid, [ask("b")])
        assert await store.load("kb-a", cid) == [ask("a")]
        assert await store.load("kb-b", cid) == [ask("b")]
        assert await store.load("kb-a", uuid.uuid4().hex) == []

    async def test_conversation_expires_after_its_ttl(self) -> None:
        store, cid = self.make_store(10, 1), uuid.uuid4().hex
        await store.append("kb", cid, [ask("hello")])
        assert await store.load("kb", cid) == [ask("hello")]
        await asyncio.sleep(1.3)
        assert await store.load("kb", cid) == []


class TestInMemoryConversations(ConversationContract):
    def make_store(self, max_turns: int, ttl_s: int) -> ConversationStore:
        return InMemoryConversationStore(max_turns=max_turns, ttl_s=ttl_s)

    async def test_least_recently_used_conversation_is_dropped_at_the_bound(self) -> None:
        store = InMemoryConversationStore(max_conversations=2)
        for cid in ("a", "b"):
            await store.append("kb", cid, [ask(cid)])
        await store.load("kb", "a")
        await store.append("kb", "c", [ask("c")])
        assert len(store) == 2
        assert await store.load("kb", "b") == []
        assert await store.load("kb", "a") == [ask("a")]


class TestSqliteConversations(ConversationContract):
    @pytest.fixture(autouse=True)
    def _folder(self, tmp_path: Path) -> None:
        self.path = tmp_path / "state.sqlite"

    def make_store(self, max_turns: int, ttl_s: int) -> ConversationStore:
        return SqliteConversationStore(self.path, max_turns=max_turns, ttl_s=ttl_s)

    async def test_a_conversation_written_by_one_process_is_read_by_another(self) -> None:
        writer, reader = self.make_store(4, 60), self.make_store(4, 60)
        await writer.append("kb", "c", [ask("q1"), reply("a1")])
        await reader.append("kb", "c", [ask("q2"), reply("a2"), ask("q3")])
        assert await writer.load("kb", "c") == [reply("a1"), ask("q2"), reply("a2"), ask("q3")]

    async def test_an_unusable_file_is_unavailable_not_an_error(self, tmp_path: Path) -> None:
        (tmp_path / "junk").write_text("not SQLite", encoding="utf-8")
        store = SqliteConversationStore(tmp_path / "junk")
        assert await store.load("kb", "c") is None
        assert await store.append("kb", "c", [ask("q")]) is False


@pytest.mark.redis
class TestRedisConversations(ConversationContract):
    @pytest.fixture(autouse=True)
    async def _client(self, redis_url: str) -> AsyncIterator[None]:  # noqa: F811
        self.client = make_redis_client(redis_url, timeout_s=1.0)
        self.prefix = f"test:{uuid.uuid4().hex[:12]}:"
        yield
        await self.client.aclose(close_connection_pool=True)

    def make_store(self, max_turns: int, ttl_s: int) -> ConversationStore:
        return RedisConversationStore(
            self.client,
            guard=RedisGuard("conversations"),
            max_turns=max_turns,
            ttl_s=ttl_s,
            prefix=self.prefix,
        )

    async def test_list_is_trimmed_and_expiring_in_redis(self) -> None:
        store, cid = self.make_store(3, 600), "abc"
        await store.append("kb", cid, [ask(str(i)) for i in range(5)])
        key = f"{self.prefix}kb:{cid}"
        assert await self.client.llen(key) == 3
        assert 590 <= await self.client.ttl(key) <= 600

    async def test_malformed_entries_are_skipped(self) -> None:
        store, cid = self.make_store(10, 600), "xyz"
        await store.append("kb", cid, [ask("fine")])
        await self.client.rpush(f"{self.prefix}kb:{cid}", "not json", '{"role": "system"}')
        assert await store.load("kb", cid) == [ask("fine")]


@pytest.mark.redis
async def test_redis_down_means_unavailable_not_an_error(
    private_redis: RedisServer,  # noqa: F811
) -> None:
    client: redis.asyncio.Redis = make_redis_client(private_redis.url, timeout_s=0.25)
    guard = RedisGuard("conversations", cooldown_s=0.0)
    store = RedisConversationStore(client, guard=guard)
    try:
        await store.append("kb", "c1", [ask("hi")])
        private_redis.stop()
        assert await store.load("kb", "c1") is None
        assert await store.append("kb", "c1", [ask("again")]) is False
        assert guard.failures == 2
    finally:
        await client.aclose(close_connection_pool=True)
