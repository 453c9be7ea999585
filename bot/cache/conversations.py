"""Conversation history per conversation id, for follow-up questions in chat.

Two implementations of one protocol: `InMemoryConversationStore` (bounded LRU, the
default without Redis) and `RedisConversationStore` (a capped list per conversation,
shared by every API process). Both keep the last `max_turns` turns and forget a
conversation `ttl_s` after its last turn. History is a convenience: when Redis is down,
`load` answers None ("unavailable") and `append` drops the turns; chat still answers.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

from bot.cache.redis_guard import RedisGuard, redis_failures
from bot.generation.protocol import Turn

if TYPE_CHECKING:
    import redis.asyncio


class ConversationStore(Protocol):
    name: str

    async def load(self, kb: str, conversation_id: str) -> list[Turn] | None:
        """Oldest turn first; [] for a new or expired conversation; None when unavailable."""
        ...

    async def append(self, kb: str, conversation_id: str, turns: Sequence[Turn]) -> bool:
        """Add turns, trim to the cap, refresh the TTL. False when they were not stored."""
        ...

    async def close(self) -> None: ...


class InMemoryConversationStore:
    name = "memory"

    def __init__(
        self,
        *,
        max_turns: int = 20,
        ttl_s: float = 24 * 3600,
        max_conversations: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_turns < 1 or max_conversations < 1:
            raise ValueError("max_turns and max_conversations must be at least 1")
        self._max_turns = max_turns
        self._ttl_s = ttl_s
        self._max_conversations = max_conversations
        self._clock = clock
        self._lock = threading.Lock()
        self._conversations: OrderedDict[tuple[str, str], tuple[deque[Turn], float]] = OrderedDict()

    async def load(self, kb: str, conversation_id: str) -> list[Turn] | None:
        key = (kb, conversation_id)
        with self._lock:
            entry = self._conversations.get(key)
            if entry is None:
                return []
            turns, expires = entry
            if expires <= self._clock():
                del self._conversations[key]
                return []
            self._conversations.move_to_end(key)
            return list(turns)

    async def append(self, kb: str, conversation_id: str, turns: Sequence[Turn]) -> bool:
        key = (kb, conversation_id)
        now = self._clock()
        with self._lock:
            entry = self._conversations.get(key)
            history = (
                entry[0] if entry is not None and entry[1] > now else deque(maxlen=self._max_turns)
            )
            history.extend(turns)
            self._conversations[key] = (history, now + self._ttl_s)
            self._conversations.move_to_end(key)
            while len(self._conversations) > self._max_conversations:
                self._conversations.popitem(last=False)
        return True

    async def close(self) -> None:
        with self._lock:
            self._conversations.clear()

    def __len__(self) -> int:
        return len(self._conversations)


class RedisConversationStore:
    """A Redis list per conversation: append, trim and expire in one MULTI round trip."""

    name = "redis"

    def __init__(
        self,
        client: redis.asyncio.Redis,
        *,
        guard: RedisGuard,
        max_turns: int = 20,
        ttl_s: int = 24 * 3600,
        prefix: str = "supportbot:conversation:",
    ) -> None:
        if max_turns < 1 or ttl_s < 1:
            raise ValueError("max_turns and ttl_s must be at least 1")
        self._client = client
        self._guard = guard
        self._max_turns = max_turns
        self._ttl_s = ttl_s
        self._prefix = prefix

    def _key(self, kb: str, conversation_id: str) -> str:
        return f"{self._prefix}{kb}:{conversation_id}"

    async def load(self, kb: str, conversation_id: str) -> list[Turn] | None:
        if not self._guard.available():
            return None
        try:
            raw = await self._client.lrange(self._key(kb, conversation_id), 0, -1)
        except redis_failures() as exc:
            self._guard.failed("conversation read", exc)
            return None
        return [turn for turn in map(_decode, raw) if turn is not None]

    async def append(self, kb: str, conversation_id: str, turns: Sequence[Turn]) -> bool:
        if not turns:
            return True
        if not self._guard.available():
            return False
        key = self._key(kb, conversation_id)
        pipe = self._client.pipeline(transaction=True)
        pipe.rpush(key, *(_encode(turn) for turn in turns))
        pipe.ltrim(key, -self._max_turns, -1)
        pipe.expire(key, self._ttl_s)
        try:
            await pipe.execute()
        except redis_failures() as exc:
            self._guard.failed("conversation write", exc)
            return False
        return True

    async def close(self) -> None:
        """The client belongs to the composition root."""


def _encode(turn: Turn) -> str:
    return json.dumps({"role": turn.role, "content": turn.content}, ensure_ascii=False)


def _decode(raw: bytes | str) -> Turn | None:
    """A malformed entry (written by something else) is skipped, not fatal."""
    try:
        value = json.loads(raw)
        role, content = value["role"], value["content"]
    except (ValueError, TypeError, KeyError):
        return None
    if role not in ("user", "assistant") or not isinstance(content, str):
        return None
    return Turn(role=role, content=content)
