"""Stand-in for `bot.sources.protocol` / `bot.errors` source errors until they land on main
(same shapes as the `sources` helper's protocol)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

from bot.errors import SupportbotError

JsonValue = str | int | float | bool | None | list["JsonValue"] | dict[str, "JsonValue"]


@dataclass(frozen=True, slots=True)
class SourceDocument:
    key: str
    title: str
    body: str
    body_format: Literal["markdown", "html"]
    url: str
    heading_path: tuple[str, ...] = ()
    updated_at: datetime | None = None
    locale: str | None = None


@dataclass(frozen=True, slots=True)
class Unchanged:
    key: str


@dataclass(frozen=True, slots=True)
class Failed:
    key: str
    reason: str


ListingItem = SourceDocument | Unchanged | Failed


@dataclass
class ConnectorState:
    cursor: dict[str, JsonValue] = field(default_factory=dict)
    documents: dict[str, dict[str, JsonValue]] = field(default_factory=dict)
    indexed: frozenset[str] = frozenset()
    full: bool = False


@dataclass(frozen=True, slots=True)
class ConnectorEnv:
    secrets: Mapping[str, str]
    work_dir: Path
    user_agent: str
    timeout_s: float


class SourceError(SupportbotError):
    code = "source_error"


class SourceUnavailable(SourceError):
    code = "source_unavailable"

    def __init__(self, message: str, retry_after_s: int = 60) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
