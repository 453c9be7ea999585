"""What the website source remembers between syncs, per fetched URL.

Kept so a re-sync can ask "changed since?" (ETag / Last-Modified), skip pages whose
sitemap `lastmod` is unchanged, still follow the links of a page that answered 304, and
dedupe an unchanged page by the content hash it had. Stored in the engine's per-document
state under the article's key (`{"pages": {url: record}}`; several URLs can share one
canonical URL), so the engine forgets it with the article when indexing that one fails.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from bot.sources.connectors.website.fetcher import Validators
from bot.sources.protocol import ConnectorState, JsonValue


@dataclass(frozen=True, slots=True)
class PageRecord:
    key: str
    """The canonical URL the page was indexed under."""
    content_hash: str
    etag: str | None = None
    last_modified: str | None = None
    lastmod: str | None = None
    """The sitemap's `lastmod` for the URL when it was fetched."""
    links: tuple[str, ...] = ()
    """In-scope links found on the page (crawls only)."""

    @property
    def validators(self) -> Validators:
        return Validators(self.etag, self.last_modified)


@dataclass
class WebsiteState:
    pages: dict[str, PageRecord] = field(default_factory=dict)
    """By the URL as listed (sitemap entry or link)."""

    @classmethod
    def read(cls, state: ConnectorState) -> WebsiteState:
        """Records of indexed articles only; none at all on a full sync."""
        if state.full:
            return cls()
        pages = {}
        for key, entry in state.documents.items():
            if key not in state.indexed:
                continue
            for url, raw in _mapping(entry.get("pages")).items():
                record = _record(key, raw)
                if record is not None:
                    pages[url] = record
        return cls(pages)

    def write(self, state: ConnectorState) -> None:
        documents: dict[str, dict[str, JsonValue]] = {}
        for url, record in sorted(self.pages.items()):
            raw = asdict(record)
            del raw["key"]
            raw["links"] = list(record.links)
            entry = documents.setdefault(record.key, {"pages": {}})
            pages = entry["pages"]
            assert isinstance(pages, dict)
            pages[url] = raw
        state.documents.clear()
        state.documents.update(documents)


def _mapping(value: JsonValue) -> dict[str, JsonValue]:
    return value if isinstance(value, dict) else {}


def _record(key: str, raw: JsonValue) -> PageRecord | None:
    """None for an entry this version cannot read: the page is simply fetched again."""
    if not isinstance(raw, dict) or not isinstance(raw.get("content_hash"), str):
        return None
    text = {name: raw.get(name) for name in ("etag", "last_modified", "lastmod")}
    links = raw.get("links")
    return PageRecord(
        key=key,
        content_hash=str(raw["content_hash"]),
        etag=text["etag"] if isinstance(text["etag"], str) else None,
        last_modified=text["last_modified"] if isinstance(text["last_modified"], str) else None,
        lastmod=text["lastmod"] if isinstance(text["lastmod"], str) else None,
        links=tuple(link for link in links if isinstance(link, str))
        if isinstance(links, list)
        else (),
    )
