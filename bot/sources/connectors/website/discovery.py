"""Listing a website's pages from its sitemap: indexes followed level by level, gzip or not.

A sitemap that cannot be fetched or read fails the whole listing: a partial list of pages
would make the sync delete every article the missing part listed.
"""

from __future__ import annotations

import asyncio

from bot.sources.connectors.website.fetcher import Blocked, FetchFailed, PoliteFetcher
from bot.sources.connectors.website.policy import CrawlPolicy
from bot.sources.connectors.website.scope import origin
from bot.sources.connectors.website.sitemap import (
    Sitemap,
    SitemapEntry,
    SitemapInvalid,
    parse_sitemap,
)


class ListingFailed(Exception):
    """The sitemap tree could not be read completely."""


async def sitemap_pages(
    fetcher: PoliteFetcher, root_url: str, policy: CrawlPolicy
) -> list[SitemapEntry]:
    """Every page URL the sitemap tree lists, first `lastmod` wins for a URL listed twice."""
    pages: dict[str, SitemapEntry] = {}
    seen: set[str] = set()
    level = [root_url]
    while level:
        level = [url for url in dict.fromkeys(level) if url not in seen]
        seen.update(level)
        if len(seen) > policy.max_sitemaps:
            raise ListingFailed(f"more than {policy.max_sitemaps} sitemaps under {root_url}")
        foreign = [url for url in level if origin(url) != origin(root_url)]
        if foreign:
            raise ListingFailed(f"sitemap index points to another site: {foreign[0]}")
        parsed = await asyncio.gather(*(_read(fetcher, url) for url in level))
        level = []
        for sitemap in parsed:
            level.extend(sitemap.sitemaps)
            for entry in sitemap.pages:
                pages.setdefault(entry.url.strip(), entry)
    return list(pages.values())


async def _read(fetcher: PoliteFetcher, url: str) -> Sitemap:
    try:
        fetched = await fetcher.get(url, allowed=lambda target: origin(target) == origin(url))
    except (FetchFailed, Blocked) as exc:
        raise ListingFailed(f"cannot fetch sitemap {url}: {exc}") from exc
    if fetched.status != 200:
        raise ListingFailed(f"sitemap {url} answered HTTP {fetched.status}")
    try:
        return parse_sitemap(fetched.content)
    except SitemapInvalid as exc:
        raise ListingFailed(f"{url} is not a readable sitemap: {exc}") from exc
