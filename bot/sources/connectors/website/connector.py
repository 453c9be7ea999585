"""The website source: a sitemap or a start URL → the site's articles, keyed by canonical URL.

One listing is one polite crawl (see `fetcher`): robots.txt first, then the sitemap tree
or a breadth-first crawl within the path prefixes, then every page, conditionally when it
was seen before. Pages are resolved only once all are in, so the listing is complete and
stable: several URLs with one canonical URL, or with identical text, give one article
(the canonical page itself, else the shortest URL).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field, replace
from urllib.parse import urlsplit

import httpx

from bot.errors import InvalidRequest, SourceUnavailable
from bot.sources.connectors.website.discovery import ListingFailed, sitemap_pages
from bot.sources.connectors.website.fetcher import PoliteFetcher
from bot.sources.connectors.website.pages import Visit, visit_page
from bot.sources.connectors.website.policy import CrawlPolicy
from bot.sources.connectors.website.robots import RobotsUnavailable, fetch_robots
from bot.sources.connectors.website.scope import CrawlScope, default_prefix
from bot.sources.connectors.website.state import PageRecord, WebsiteState
from bot.sources.protocol import (
    ConnectorState,
    Failed,
    ListingItem,
    SourceDocument,
    Unchanged,
)


@dataclass(frozen=True, slots=True)
class WebsiteSourceConfig:
    sitemap_url: str | None = None
    start_url: str | None = None
    include_prefixes: tuple[str, ...] = ()
    """URL path prefixes (`/help/`); a crawl defaults to the start page's folder."""
    policy: CrawlPolicy = field(default_factory=CrawlPolicy)

    def __post_init__(self) -> None:
        if (self.sitemap_url is None) == (self.start_url is None):
            raise InvalidRequest("a website source needs one URL: a sitemap or a start page")
        url = self.sitemap_url or self.start_url or ""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise InvalidRequest(f"{url!r} is not an http(s) URL; give the full address")
        bad = [prefix for prefix in self.include_prefixes if not prefix.startswith("/")]
        if bad:
            raise InvalidRequest(f"include prefixes are URL paths starting with '/': {bad[0]!r}")

    @property
    def site_url(self) -> str:
        return self.sitemap_url or self.start_url or ""

    @property
    def prefixes(self) -> tuple[str, ...]:
        if self.include_prefixes or self.start_url is None:
            return self.include_prefixes
        return (default_prefix(self.start_url),)


@dataclass
class CrawlReport:
    """What one listing did, beyond the documents it yielded."""

    listed: int = 0
    requests: int = 0
    fetched: int = 0
    not_modified: int = 0
    """Pages the server answered 304 for (conditional requests)."""
    lastmod_unchanged: int = 0
    """Pages not requested because their sitemap `lastmod` had not changed."""
    disallowed: list[str] = field(default_factory=list)
    """URLs robots.txt rules out: never requested."""
    skipped: dict[str, str] = field(default_factory=dict)
    duplicates: dict[str, str] = field(default_factory=dict)
    """URL → the article URL it duplicates (same canonical URL or identical text)."""
    failed: dict[str, str] = field(default_factory=dict)


class WebsiteConnector:
    def __init__(
        self,
        config: WebsiteSourceConfig,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.kind = "sitemap" if config.sitemap_url else "website"
        self.config = config
        self._transport = transport
        self.report = CrawlReport()

    async def list_documents(self, state: ConnectorState) -> AsyncIterator[ListingItem]:
        """The site's complete article list; raises SourceUnavailable rather than list part."""
        self.report = CrawlReport()
        visits = await self._crawl(WebsiteState.read(state))
        self._check_failures(visits)
        items, remembered = _resolve(visits, self.report)
        remembered.write(state)
        for item in items:
            yield item

    async def _crawl(self, state: WebsiteState) -> list[Visit]:
        policy = self.config.policy
        async with httpx.AsyncClient(
            headers={"User-Agent": policy.agent},
            timeout=policy.timeout_s,
            follow_redirects=False,
            transport=self._transport,
        ) as client:
            fetcher = PoliteFetcher(client, policy)
            try:
                robots = await fetch_robots(fetcher, self.config.site_url, policy.agent)
                fetcher.set_crawl_delay(robots.crawl_delay_s)
                scope = CrawlScope(self.config.site_url, self.config.prefixes, robots)
                if self.config.sitemap_url:
                    visits = await self._from_sitemap(fetcher, scope, state)
                else:
                    visits = await self._from_start(fetcher, scope, state)
            except (RobotsUnavailable, ListingFailed) as exc:
                raise SourceUnavailable(f"website listing failed, nothing changed: {exc}") from exc
            finally:
                self.report.requests = fetcher.requests
        return visits

    async def _from_sitemap(
        self, fetcher: PoliteFetcher, scope: CrawlScope, state: WebsiteState
    ) -> list[Visit]:
        assert self.config.sitemap_url is not None
        policy = self.config.policy
        entries = await sitemap_pages(fetcher, self.config.sitemap_url, policy)
        wanted = []
        for entry in entries:
            if not scope.in_scope(entry.url):
                continue
            if not scope.robots.allowed(entry.url):
                self.report.disallowed.append(entry.url)
                continue
            wanted.append(entry)
        if len(wanted) > policy.max_pages:
            raise ListingFailed(
                f"the sitemap lists {len(wanted)} pages in scope, more than max_pages "
                f"({policy.max_pages}); narrow it with include prefixes"
            )
        self.report.listed = len(wanted)
        return list(
            await asyncio.gather(
                *(
                    visit_page(
                        fetcher,
                        scope,
                        entry.url,
                        state.pages.get(entry.url),
                        lastmod=entry.lastmod,
                        trust_lastmod=policy.trust_lastmod,
                    )
                    for entry in wanted
                )
            )
        )

    async def _from_start(
        self, fetcher: PoliteFetcher, scope: CrawlScope, state: WebsiteState
    ) -> list[Visit]:
        """Breadth first from the start URL, one level at a time, within the scope."""
        assert self.config.start_url is not None
        limit = self.config.policy.max_pages
        seen = {self.config.start_url}
        level = [self.config.start_url]
        visits: list[Visit] = []
        while level:
            found = await asyncio.gather(
                *(visit_page(fetcher, scope, url, state.pages.get(url)) for url in level)
            )
            if not visits and found[0].kind == "failed":
                raise ListingFailed(f"the start page failed: {found[0].reason}")
            visits.extend(found)
            level = []
            for link in (link for item in found for link in item.links):
                if link in seen or not scope.in_scope(link):
                    continue
                seen.add(link)
                if not scope.robots.allowed(link):
                    self.report.disallowed.append(link)
                    continue
                if len(seen) - len(self.report.disallowed) > limit:
                    raise ListingFailed(
                        f"the crawl found more than max_pages ({limit}) pages; narrow it "
                        "with include prefixes or raise max_pages"
                    )
                level.append(link)
        self.report.listed = len(visits)
        return visits

    def _check_failures(self, visits: list[Visit]) -> None:
        failed = {visit.url: visit.reason for visit in visits if visit.kind == "failed"}
        self.report.failed = failed
        allowed = max(1, int(len(visits) * self.config.policy.max_failed_fraction))
        if len(failed) > allowed:
            url, reason = next(iter(failed.items()))
            raise SourceUnavailable(
                f"{len(failed)} of {len(visits)} pages could not be fetched (e.g. {url}: "
                f"{reason}); nothing was changed, the next sync will try again"
            )


def _resolve(visits: list[Visit], report: CrawlReport) -> tuple[list[ListingItem], WebsiteState]:
    """One item per article: canonical duplicates, then identical texts, collapse to one."""
    state = WebsiteState()
    kept: dict[str, Visit] = {}
    for visit in visits:
        if visit.kind == "skipped":
            report.skipped[visit.url] = visit.reason
        if visit.kind not in ("fresh", "unchanged") or visit.record is None:
            continue
        state.pages[visit.url] = visit.record
        report.fetched += visit.kind == "fresh"
        report.not_modified += visit.not_modified
        report.lastmod_unchanged += visit.kind == "unchanged" and not visit.not_modified
        key = visit.record.key
        current = kept.get(key)
        if current is None or _preferred(visit, current):
            if current is not None:
                report.duplicates[current.url] = key
            kept[key] = visit
        else:
            report.duplicates[visit.url] = key
    by_text: dict[str, Visit] = {}
    for key in sorted(kept, key=lambda url: (len(url), url)):
        visit = kept[key]
        assert visit.record is not None
        first = by_text.setdefault(visit.record.content_hash, visit)
        if first is not visit and first.record is not None:
            report.duplicates[visit.url] = first.record.key
            # Remembered under the article it duplicates, so a 304 next time names that one.
            state.pages[visit.url] = replace(visit.record, key=first.record.key)
    items = [_item(visit) for visit in _by_key(by_text.values())]
    listed = {item.key for item in items}
    for visit in visits:
        if visit.kind != "failed":
            continue
        key = visit.record.key if visit.record else visit.url
        if visit.record is not None:
            state.pages[visit.url] = visit.record
        if key not in listed:
            listed.add(key)
            items.append(Failed(key, visit.reason))
    return items, state


def _preferred(visit: Visit, current: Visit) -> bool:
    """The canonical page itself beats pages pointing at it; then the shorter URL."""
    assert visit.record is not None
    key = visit.record.key
    return (visit.url != key, len(visit.url), visit.url) < (
        current.url != key,
        len(current.url),
        current.url,
    )


def _by_key(visits: Iterable[Visit]) -> list[Visit]:
    return sorted(visits, key=lambda visit: visit.record.key if visit.record else "")


def _item(visit: Visit) -> ListingItem:
    record: PageRecord | None = visit.record
    assert record is not None
    if visit.kind != "fresh" or visit.article is None:
        return Unchanged(record.key)
    article = visit.article
    return SourceDocument(
        key=record.key,
        title=article.title,
        body=article.markdown,
        body_format="markdown",
        url=record.key,
        updated_at=article.updated_at,
        locale=article.language,
    )
