"""One listed URL → what became of it: a fresh article, unchanged, skipped, or failed.

Skipped pages (gone, not HTML, no main content, noindex, redirected out of scope) are
simply not part of the site's articles; failed ones (5xx or 429 after retries, timeouts)
say nothing about the page, so its indexed version is kept.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Literal

from bot.domain import content_hash
from bot.sources.connectors.website.extract import decode_page, extract_page
from bot.sources.connectors.website.fetcher import Blocked, FetchFailed, PoliteFetcher
from bot.sources.connectors.website.scope import CrawlScope, origin
from bot.sources.connectors.website.sitemap import parse_lastmod
from bot.sources.connectors.website.state import PageRecord

VisitKind = Literal["fresh", "unchanged", "skipped", "failed"]


@dataclass(frozen=True, slots=True)
class Article:
    title: str
    markdown: str
    language: str | None
    updated_at: datetime | None


@dataclass(frozen=True, slots=True)
class Visit:
    url: str
    """As listed (sitemap entry, or link found while crawling)."""
    kind: VisitKind
    record: PageRecord | None = None
    """Fresh and unchanged pages: what to remember (the previous record for unchanged)."""
    article: Article | None = None
    reason: str = ""
    """Why a page was skipped or failed, for the report."""
    not_modified: bool = False
    """Unchanged because the server answered 304 (not because the sitemap's lastmod held)."""
    links: tuple[str, ...] = ()
    """In-scope links to crawl on from here (a noindex page's too, unless it says nofollow)."""


async def visit_page(
    fetcher: PoliteFetcher,
    scope: CrawlScope,
    url: str,
    previous: PageRecord | None,
    *,
    lastmod: str | None = None,
    trust_lastmod: bool = False,
) -> Visit:
    if previous and trust_lastmod and lastmod and previous.lastmod == lastmod:
        return Visit(url, "unchanged", record=previous, links=previous.links)
    try:
        fetched = await fetcher.get(
            url, validators=previous.validators if previous else None, allowed=scope.allowed
        )
    except Blocked as exc:
        return Visit(url, "skipped", reason=f"redirects to {exc.url}, outside the crawl scope")
    except FetchFailed as exc:
        # A crawl goes on through the links the page had: what lies behind it is not gone.
        links = previous.links if previous else ()
        return Visit(url, "failed", record=previous, reason=exc.reason, links=links)
    if fetched.status == 304 and previous:
        record = replace(previous, lastmod=lastmod or previous.lastmod)
        return Visit(url, "unchanged", record=record, not_modified=True, links=record.links)
    if fetched.status != 200:
        return Visit(url, "skipped", reason=f"HTTP {fetched.status}")
    if fetched.content_type and "html" not in fetched.content_type.lower():
        return Visit(url, "skipped", reason=f"not an HTML page ({fetched.content_type})")
    text = decode_page(fetched.content, fetched.content_type)
    page = await asyncio.to_thread(extract_page, text, fetched.url)  # CPU: keep pacing on time
    links = tuple(link for link in page.links if scope.in_scope(link))
    if page.noindex:
        reason = "the page asks not to be indexed (noindex)"
        return Visit(url, "skipped", reason=reason, links=links)
    if page.markdown is None:
        return Visit(url, "skipped", reason="no main content found")
    key = page.canonical if page.canonical and origin(page.canonical) == origin(url) else None
    title = page.title or fetched.url
    record = PageRecord(
        key=key or fetched.url,
        content_hash=content_hash(title, page.markdown),
        etag=fetched.validators.etag,
        last_modified=fetched.validators.last_modified,
        lastmod=lastmod,
        links=links,
    )
    updated_at = parse_lastmod(lastmod) or _http_date(fetched.validators.last_modified)
    article = Article(title, page.markdown, page.language, updated_at)
    return Visit(url, "fresh", record=record, article=article, links=links)


def _http_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
