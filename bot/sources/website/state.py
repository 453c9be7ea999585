"""What the website source remembers between syncs, per fetched URL.

Kept so a re-sync can ask "changed since?" (ETag / Last-Modified), skip pages whose
sitemap `lastmod` is unchanged, still follow the links of a page that answered 304, and
dedupe an unchanged page by the content hash it had.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from bot.sources.website.fetcher import Validators


@dataclass(frozen=True, slots=True)
class PageRecord:
    key: str
    """The canonical URL the page was indexed under."""
    content_hash: str
    etag: str | None = None
    last_modified: str | None = None
    lastmod: str | None = None
    """The sitemap's `lastmod` for the URL when it was fetched."""
    title: str | None = None
    links: tuple[str, ...] = ()
    """In-scope links found on the page (crawls only)."""

    @property
    def validators(self) -> Validators:
        return Validators(self.etag, self.last_modified)


@dataclass
class WebsiteState:
    pages: dict[str, PageRecord] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(
            {"version": 1, "pages": {url: asdict(record) for url, record in self.pages.items()}},
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str | None) -> WebsiteState:
        """Unreadable or foreign state means a full re-fetch, never a failed sync."""
        if not text:
            return cls()
        try:
            raw = json.loads(text)
            pages = {
                str(url): PageRecord(**{**record, "links": tuple(record.get("links") or ())})
                for url, record in raw.get("pages", {}).items()
            }
        except (ValueError, TypeError, AttributeError):
            return cls()
        return cls(pages)
