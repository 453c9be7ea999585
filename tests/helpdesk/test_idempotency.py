"""Idempotency stores: one contract in process and in SQLite (Redis: test_webhooks.py)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest

from bot.helpdesk.idempotency import IdempotencyStore, InMemoryIdempotencyStore
from bot.helpdesk.sqlite_idempotency import SqliteIdempotencyStore


class IdempotencyContract:
    store: IdempotencyStore

    async def test_only_the_first_claim_owns_a_key(self) -> None:
        key = uuid.uuid4().hex
        assert await self.store.claim(key)
        assert not await self.store.claim(key)
        assert await self.store.claim(uuid.uuid4().hex)

    async def test_a_completed_key_stays_claimed_until_its_ttl(self) -> None:
        key = uuid.uuid4().hex
        assert await self.store.claim(key)
        await self.store.complete(key, ttl_s=1)
        assert not await self.store.claim(key)
        await asyncio.sleep(1.2)
        assert await self.store.claim(key)

    async def test_a_released_key_can_be_claimed_again(self) -> None:
        key = uuid.uuid4().hex
        assert await self.store.claim(key)
        await self.store.release(key)
        assert await self.store.claim(key)


class TestInMemoryIdempotency(IdempotencyContract):
    @pytest.fixture(autouse=True)
    def _store(self) -> None:
        self.store = InMemoryIdempotencyStore()


class TestSqliteIdempotency(IdempotencyContract):
    @pytest.fixture(autouse=True)
    def _store(self, tmp_path: Path) -> None:
        self.store = SqliteIdempotencyStore(tmp_path / "state.sqlite")

    async def test_concurrent_claims_from_two_processes_have_one_winner(
        self, tmp_path: Path
    ) -> None:
        stores = [SqliteIdempotencyStore(tmp_path / "shared.sqlite") for _ in range(2)]
        for event in range(5):
            key = f"event-{event}"
            wins = await asyncio.gather(*(s.claim(key) for s in stores * 4))
            assert sum(wins) == 1, wins
        for store in stores:
            await store.close()
