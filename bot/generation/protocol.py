"""The generator role."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from bot.domain import Candidate


@dataclass(frozen=True, slots=True)
class Turn:
    role: Literal["user", "assistant"]
    content: str


class Generator(Protocol):
    name: str
    mode: Literal["llm", "extractive"]

    def stream(
        self, question: str, passages: Sequence[Candidate], history: Sequence[Turn] = ()
    ) -> AsyncIterator[str]:
        """Yield answer text as it is produced. Raise GenerationError."""
        ...
