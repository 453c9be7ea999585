"""The score cache role: one round trip to read many keys, one to write the misses."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol


class ScoreCache(Protocol):
    name: str

    async def get_many(self, keys: Sequence[str]) -> list[float | None]:
        """Missing keys and an unreachable cache both read as None; never raises."""
        ...

    async def set_many(self, scores: Mapping[str, float], ttl_s: int) -> None:
        """Best effort; never raises."""
        ...

    async def close(self) -> None: ...
