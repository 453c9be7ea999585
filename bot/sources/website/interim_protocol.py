"""Stand-in for the connector protocol until `bot.sources` lands it (same shapes as the sketch)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from bot.errors import SupportbotError


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


class SourceError(SupportbotError):
    code = "source_error"


class SourceUnavailable(SourceError):
    code = "source_unavailable"
