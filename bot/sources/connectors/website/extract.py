"""A fetched web page → its article as Markdown, with title, canonical URL, language and links.

trafilatura finds the main content and drops the chrome around it (navigation, headers,
footers, cookie banners, "related articles" lists); its Markdown keeps headings, lists,
code and tables, so today's Markdown parser gives chunks their heading paths. The title
follows the HTML parser's rule (`<title>`, or the `<h1>` when it is a cleaner form of it).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urldefrag, urljoin

import trafilatura
from bs4 import BeautifulSoup, UnicodeDammit
from bs4.element import Tag

from ingestion.html_parser import canonical_url, page_title


@dataclass(frozen=True, slots=True)
class ExtractedPage:
    title: str | None
    markdown: str | None
    """None when the page has no main content (an index page, an empty template)."""
    canonical: str | None
    """Absolute `rel=canonical` URL, when the page declares one."""
    language: str | None
    links: tuple[str, ...]
    """Absolute link targets without fragments, for crawling from a start URL."""
    noindex: bool
    nofollow: bool


def decode_page(content: bytes, content_type: str) -> str:
    """Text of an HTML page: the charset the server declared, else sniffed (meta, BOM, UTF-8)."""
    declared = [
        part.split("=", 1)[1].strip().strip('"')
        for part in content_type.split(";")
        if part.strip().lower().startswith("charset=")
    ]
    dammit = UnicodeDammit(content, [*declared, "utf-8"], is_html=True)
    return dammit.unicode_markup or content.decode("utf-8", "replace")


def extract_page(html: str, url: str) -> ExtractedPage:
    soup = BeautifulSoup(html, "lxml")
    declared = canonical_url(soup)
    markdown = trafilatura.extract(
        html,
        url=url,
        output_format="markdown",
        include_tables=True,
        include_formatting=True,
        include_links=False,
        include_images=False,
        include_comments=False,
        deduplicate=False,
    )
    return ExtractedPage(
        title=page_title(soup),
        markdown=markdown.strip() if markdown and markdown.strip() else None,
        canonical=urldefrag(urljoin(url, declared)).url if declared else None,
        language=_language(soup),
        links=_links(soup, url),
        noindex="noindex" in _robots_directives(soup),
        nofollow="nofollow" in _robots_directives(soup),
    )


def _language(soup: BeautifulSoup) -> str | None:
    html = soup.find("html")
    lang = html.get("lang") if isinstance(html, Tag) else None
    return str(lang).strip() or None if lang else None


def _links(soup: BeautifulSoup, url: str) -> tuple[str, ...]:
    found: dict[str, None] = {}
    for anchor in soup.find_all("a", href=True):
        if isinstance(anchor, Tag) and "nofollow" not in (anchor.get("rel") or []):
            target = urldefrag(urljoin(url, str(anchor["href"]).strip())).url
            if target.startswith(("http://", "https://")):
                found[target] = None
    return tuple(found)


def _robots_directives(soup: BeautifulSoup) -> set[str]:
    """`<meta name="robots" content="noindex, follow">` → {"noindex", "follow"}."""
    found: set[str] = set()
    for meta in soup.find_all("meta", attrs={"name": True, "content": True}):
        if isinstance(meta, Tag) and str(meta["name"]).lower() in ("robots", "supportbot"):
            found.update(part.strip().lower() for part in str(meta["content"]).split(","))
    if "none" in found:
        found.update(("noindex", "nofollow"))
    return found
