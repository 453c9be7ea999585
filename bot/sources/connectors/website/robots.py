"""robots.txt for the crawled site (RFC 9309), parsed by Protego (wildcards, fractional
crawl-delay, `Sitemap:` lines).

A missing robots.txt (any 4xx) allows everything; one that cannot be fetched (5xx after
retries, connection errors) fails the sync: crawling without knowing the rules is not
polite, and a failed sync deletes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from protego import Protego

from bot.sources.connectors.website.fetcher import Blocked, FetchFailed, PoliteFetcher


class RobotsUnavailable(Exception):
    pass


@dataclass(frozen=True)
class RobotsRules:
    user_agent: str
    parsed: Protego | None = None
    """None when the site has no robots.txt: everything is allowed."""

    def allowed(self, url: str) -> bool:
        return self.parsed is None or bool(self.parsed.can_fetch(url, self.user_agent))

    @property
    def crawl_delay_s(self) -> float:
        delay = self.parsed.crawl_delay(self.user_agent) if self.parsed else None
        return float(delay or 0.0)

    @property
    def sitemaps(self) -> list[str]:
        return list(self.parsed.sitemaps) if self.parsed else []


def robots_url(site_url: str) -> str:
    parts = urlsplit(site_url)
    return f"{parts.scheme}://{parts.netloc}/robots.txt"


async def fetch_robots(fetcher: PoliteFetcher, site_url: str, user_agent: str) -> RobotsRules:
    url = robots_url(site_url)
    try:
        fetched = await fetcher.get(url, allowed=lambda target: _same_origin(target, url))
    except (FetchFailed, Blocked) as exc:
        raise RobotsUnavailable(f"cannot read {url}: {exc}") from exc
    if 400 <= fetched.status < 500:
        return RobotsRules(user_agent)
    if fetched.status != 200:
        raise RobotsUnavailable(f"{url} answered HTTP {fetched.status}")
    text = fetched.content.decode("utf-8", "replace")
    return RobotsRules(user_agent, Protego.parse(text))


def _same_origin(a: str, b: str) -> bool:
    return urlsplit(a)[:2] == urlsplit(b)[:2]
