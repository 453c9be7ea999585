"""What a connector yields to the sync engine, and the errors it may raise.

Interim copy of the sketch agreed for issue 12; the sync engine's own protocol module
replaces it when it lands.

    SourceError                 a source could not be listed completely: nothing is deleted
    ├── SourceAuthError         the source refused the credentials (401/403)
    ├── SourceUnavailable       5xx, timeouts or rate limits that outlasted the retries
    └── SourceConfigError       the source does not exist as configured (404, bad URL)
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

from bot.errors import SupportbotError


@dataclass(frozen=True, slots=True)
class SourceDocument:
    key: str
    """Stable id at the source (the article id, with its locale when several are synced)."""
    title: str
    body: str
    body_format: Literal["markdown", "html"]
    url: str
    """Live public article link, used as the citation."""
    heading_path: tuple[str, ...] = ()
    updated_at: datetime | None = None
    locale: str | None = None


@dataclass(frozen=True, slots=True)
class Unchanged:
    """A document known from the last sync whose source copy has not changed since."""

    key: str


@dataclass(frozen=True, slots=True)
class ConnectorState:
    """What the last successful sync saw: each key's `updated_at` at the source."""

    updated_at: Mapping[str, datetime] = field(default_factory=dict)

    def is_unchanged(self, key: str, updated_at: datetime | None) -> bool:
        return updated_at is not None and self.updated_at.get(key) == updated_at


class Connector(Protocol):
    kind: str

    def list_documents(self, state: ConnectorState) -> AsyncIterator[SourceDocument | Unchanged]:
        """Yield every document currently at the source (a complete listing) or Unchanged(key)
        for one known not to have changed; raise SourceError subclasses on failure."""
        ...


class SourceError(SupportbotError):
    code = "source_error"


class SourceAuthError(SourceError):
    code = "source_auth_failed"


class SourceUnavailable(SourceError):
    code = "source_unavailable"


class SourceConfigError(SourceError):
    code = "source_misconfigured"
