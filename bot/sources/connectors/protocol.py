"""Interim mirror of `bot.sources.protocol` and the source errors (helper `sources`'s issue-12
design, not yet on main); replaced by imports from there when it lands.

    SourceError                 a source could not be listed completely: nothing is deleted
    ├── SourceAuthFailed        credentials missing, rejected or expired (401/403)
    └── SourceUnavailable       down, timing out or 5xx after retries
        └── SourceRateLimited   still 429 after retries; `retry_after_s`
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal, Protocol

from pydantic import BaseModel

from bot.errors import SupportbotError

BodyFormat = Literal["markdown", "html"]
JsonValue = str | int | float | bool | None | list["JsonValue"] | dict[str, "JsonValue"]


@dataclass(frozen=True, slots=True)
class SourceDocument:
    key: str
    title: str
    body: str
    body_format: BodyFormat
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


class Connector(Protocol):
    kind: str

    def list_documents(self, state: ConnectorState) -> AsyncIterator[ListingItem]: ...


@dataclass(frozen=True, slots=True)
class ConnectorType:
    kind: str
    options: type[BaseModel]
    build: Callable[[BaseModel, ConnectorEnv], Connector]
    secrets: tuple[str, ...] = ()
    summary: str = ""


class SourceError(SupportbotError):
    code = "source_error"


class SourceAuthFailed(SourceError):
    code = "source_auth_failed"


class SourceUnavailable(SourceError):
    code = "source_unavailable"

    def __init__(self, message: str, retry_after_s: int = 60) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class SourceRateLimited(SourceUnavailable):
    code = "source_rate_limited"
