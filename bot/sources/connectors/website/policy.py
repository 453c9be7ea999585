"""How the website source crawls: what it may fetch, how fast, and how it identifies itself."""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version

from bot.errors import InvalidRequest


def default_user_agent() -> str:
    try:
        release = version("supportbot")
    except PackageNotFoundError:
        release = "dev"
    return f"supportbot-sync/{release} (help-center sync for a support bot; respects robots.txt)"


@dataclass(frozen=True, slots=True)
class CrawlPolicy:
    user_agent: str = ""
    """Sent with every request and matched against robots.txt groups; empty = the default."""
    requests_per_second: float = 2.0
    """Upper bound on request starts; robots.txt's crawl-delay slows it further, never speeds it."""
    concurrency: int = 4
    timeout_s: float = 20.0
    max_attempts: int = 5
    """Per request, for 429, 5xx and transport errors."""
    backoff_initial_s: float = 0.5
    max_wait_s: float = 60.0
    """Longest single wait; a `Retry-After` beyond it fails the page instead of stalling."""
    max_redirects: int = 5
    max_page_bytes: int = 5 * 2**20
    max_pages: int = 10_000
    """Crawls stop discovering beyond this many pages (a runaway site cannot fill the index)."""
    max_sitemaps: int = 1_000
    max_failed_fraction: float = 0.2
    """More pages than this failing (5xx, timeouts) fails the whole sync, deleting nothing."""
    trust_lastmod: bool = True
    """Skip the request for a page whose sitemap `lastmod` has not changed since the last sync."""

    def __post_init__(self) -> None:
        if self.requests_per_second <= 0:
            raise InvalidRequest("requests_per_second must be positive")
        if self.concurrency < 1:
            raise InvalidRequest("concurrency must be at least 1")

    @property
    def agent(self) -> str:
        return self.user_agent or default_user_agent()
