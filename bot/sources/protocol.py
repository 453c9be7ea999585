"""The connector role: how a knowledge base reads a help center where it lives.

A *connector* lists the articles of one remote source (a Git repository, a website, a
Zendesk / Intercom / Freshdesk help center). The *sync engine* (`bot.sources.sync`) does
everything else: parsing (`body` goes through today's Markdown/HTML parsers), chunking,
embedding only what changed, deleting what disappeared, history, schedules, secrets.

Writing a connector
-------------------
1. **Options.** A frozen pydantic model of the source's non-secret settings (URLs,
   locales, prefixes). Field `include_prefix: list[str]` becomes the CLI flag
   `--include-prefix` (repeatable) of `supportbot kb add-source KB --type <kind>` and the
   JSON field of `PUT /admin/kbs/{kb}/source`; give every field a `description`.
2. **A `ConnectorType`** (kind, options model, secret names, `build`) registered in
   `bot.sources.catalog`. `build(options, env)` is cheap (no I/O): it is also called to
   validate a source when it is added, and raises `InvalidRequest` for unusable options.
3. **`list_documents(state)`**, an async generator yielding one item per document that
   is at the source *now*:
   - `SourceDocument` — the document's current content;
   - `Unchanged(key)` — the document exists and is known not to have changed since the
     last sync (a 304 to a conditional request, an `updated_at` not newer than the one
     remembered, the same ETag). Only for keys in `state.indexed`; the engine keeps
     the indexed version without parsing or embedding anything;
   - `Failed(key, reason)` — the document exists but cannot be read this time (a broken
     page, one article's 404 during the listing). Its indexed version is kept, not
     deleted; the reason shows in the sync's history.

   **Completeness is the contract.** Returning normally means "this was the complete
   listing": every key not yielded is deleted from the index. So an incremental API must
   still account for every live document (yield `Unchanged` for those it skipped), and
   anything that prevents a complete listing — auth rejected, a page of results that
   errors after retries, a 500 storm, a timeout — must *raise* one of the errors below,
   never end the generator early. A raised error deletes nothing: documents already
   yielded are written (so the next run resumes cheaply) and the index keeps serving.
   The engine also refuses a listing far smaller than the last one (`ListingTooSmall`)
   unless the admin forces it, so an empty page that "looks" complete cannot wipe a KB.

4. **Errors** (`bot.errors`), with messages that say what to do and never contain a
   credential (the engine redacts known secret values anyway, as a safety net):
   - `SourceAuthFailed` — credentials missing, rejected or expired (401/403): not retried;
   - `SourceRateLimited(message, retry_after_s)` — still 429 after retrying;
   - `SourceUnavailable(message)` — network errors, timeouts, 5xx after retrying;
   - `SourceError` — anything else that makes the listing incomplete (malformed JSON...).
   Retry transient failures *inside* the connector first (tenacity, honouring
   `Retry-After`, backoff with jitter; see `bot.retry` when it exists), then raise.

State kept between syncs
------------------------
`ConnectorState` is handed to every `list_documents` call. The connector may read and
write `state.cursor` (source-wide, e.g. the last `updated_at` seen) and
`state.documents[key]` (per document, e.g. `{"etag": ..., "last_modified": ...}`);
values must be JSON (str, int, float, bool, None, lists and dicts of them). The engine
saves the state only after a *successful* sync, and drops the per-document entry of
every document that failed to parse or index, so an ETag is never remembered for content
that is not in the index. `state.full` is True when the admin asked for a full sync:
ignore cursors and ETags and fetch everything.

Credentials
-----------
A connector declares the names of its secrets (`ConnectorType.secrets`, e.g.
`("api_token",)`). Admins give each one as a value (stored outside the index in a file
of mode 0600) or as the name of an environment variable; either way the connector
receives plain strings in `ConnectorEnv.secrets` at build time, keyed by those names
(absent when not configured). Never log, echo or put them in an error message, a
`SourceDocument` or the state.

Keys, URLs, titles
------------------
`key` is the document's stable id at the source (article id, canonical URL, path in
the repo) and becomes its `source_id` in the index; it must not change when the content
does. `url` is the live public page, used as the citation. An empty `title` lets the
parser take one from the body (front matter, first heading, `<title>`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal, Protocol

from pydantic import BaseModel

BodyFormat = Literal["markdown", "html"]
JsonValue = str | int | float | bool | None | list["JsonValue"] | dict[str, "JsonValue"]


@dataclass(frozen=True, slots=True)
class SourceDocument:
    """One article as the source has it now."""

    key: str
    """Stable id at the source: article id, canonical URL, path in the repository."""
    title: str
    """Shown with citations; "" = take it from the body (front matter, heading, <title>)."""
    body: str
    body_format: BodyFormat
    url: str
    """The live public article: the citation link."""
    heading_path: tuple[str, ...] = ()
    """Where it sits at the source: category › section, collection, folder."""
    updated_at: datetime | None = None
    locale: str | None = None

    def __post_init__(self) -> None:
        if not self.key:
            raise ValueError("a SourceDocument needs a non-empty key")
        if self.body_format not in ("markdown", "html"):
            raise ValueError(f"body_format must be 'markdown' or 'html', not {self.body_format!r}")


@dataclass(frozen=True, slots=True)
class Unchanged:
    """The document `key` is still at the source, unchanged since the last sync."""

    key: str


@dataclass(frozen=True, slots=True)
class Failed:
    """The document `key` exists but could not be read now; its indexed version is kept."""

    key: str
    reason: str


ListingItem = SourceDocument | Unchanged | Failed


@dataclass
class ConnectorState:
    """A source's memory between syncs; saved by the engine only after a successful sync."""

    cursor: dict[str, JsonValue] = field(default_factory=dict)
    """Source-wide: the last `updated_at` seen, a sync token."""
    documents: dict[str, dict[str, JsonValue]] = field(default_factory=dict)
    """Per document key: ETag, Last-Modified, updated_at, content hash."""
    indexed: frozenset[str] = frozenset()
    """Keys in the index now (read-only): those `Unchanged` may name."""
    full: bool = False
    """The admin asked for a full sync: ignore cursors and ETags, fetch everything."""


@dataclass(frozen=True, slots=True)
class ConnectorEnv:
    """What the engine gives a connector besides its options."""

    secrets: Mapping[str, str]
    """Resolved credentials by the names in `ConnectorType.secrets`; absent = not set."""
    work_dir: Path
    """A private folder for this source (a Git clone, caches); kept between syncs."""
    user_agent: str
    """Send it on every HTTP request (sites and APIs want to know who crawls them)."""
    timeout_s: float
    """Per-request timeout."""


class Connector(Protocol):
    kind: str

    def list_documents(self, state: ConnectorState) -> AsyncIterator[ListingItem]:
        """Yield every document at the source (see the module docstring); raise
        `SourceError` subclasses when the listing cannot be completed."""
        ...


@dataclass(frozen=True, slots=True)
class ConnectorType:
    """A source type the CLI and the admin API offer (registered in `bot.sources.catalog`)."""

    kind: str
    options: type[BaseModel]
    build: Callable[[BaseModel, ConnectorEnv], Connector]
    """Cheap, no I/O; raise InvalidRequest for options that cannot work."""
    secrets: tuple[str, ...] = ()
    summary: str = ""
    """One line for `--help` and the API docs."""
