"""Which URLs a website source may fetch: its own origin, its path prefixes, robots.txt."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from urllib.parse import urlsplit

from bot.sources.connectors.website.robots import RobotsRules


def origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def default_prefix(start_url: str) -> str:
    """The start page's folder: `https://x/help/` and `https://x/help/index.html` give `/help/`."""
    path = urlsplit(start_url).path or "/"
    return path if path.endswith("/") else posixpath.dirname(path).rstrip("/") + "/"


@dataclass(frozen=True)
class CrawlScope:
    site_url: str
    prefixes: tuple[str, ...]
    """Path prefixes a page must start with; empty = the whole origin."""
    robots: RobotsRules

    def in_scope(self, url: str) -> bool:
        if origin(url) != origin(self.site_url):
            return False
        path = urlsplit(url).path or "/"
        return not self.prefixes or path.startswith(self.prefixes)

    def allowed(self, url: str) -> bool:
        return self.in_scope(url) and self.robots.allowed(url)
