"""A fetched web page → its article as Markdown, with title, canonical URL, language and links.

trafilatura finds the main content and drops the chrome around it (navigation, headers,
footers, cookie banners, "related articles" lists); its Markdown keeps headings, lists,
code and tables, so today's Markdown parser gives chunks their heading paths. The page is
parsed once (lxml) for both. The title follows the HTML parser's rule (`<title>`, or the
`<h1>` when it is a cleaner form of it).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urldefrag, urljoin

import trafilatura
from bs4 import UnicodeDammit
from lxml import etree
from lxml import html as lxml_html

from ingestion.html_parser import choose_title


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


def extract_page(text: str, url: str) -> ExtractedPage:
    try:
        tree = lxml_html.document_fromstring(text)
    except (etree.ParserError, ValueError):
        return ExtractedPage(None, None, None, None, (), noindex=False, nofollow=False)
    robots = _robots_directives(tree)
    declared = _first(
        tree, "//link[contains(concat(' ', normalize-space(@rel), ' '), ' canonical ')]/@href"
    )
    markdown = trafilatura.extract(
        tree,
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
        title=choose_title(_first_text(tree, "//title"), _first_text(tree, "//h1")),
        markdown=markdown.strip() if markdown and markdown.strip() else None,
        canonical=urldefrag(urljoin(url, declared)).url if declared else None,
        language=str(tree.get("lang") or "").strip() or None,
        links=() if "nofollow" in robots else _links(tree, url),
        noindex="noindex" in robots,
        nofollow="nofollow" in robots,
    )


def _first(tree: lxml_html.HtmlElement, xpath: str) -> str:
    found = tree.xpath(xpath)
    return str(found[0]).strip() if found else ""


def _first_text(tree: lxml_html.HtmlElement, xpath: str) -> str:
    found = tree.xpath(xpath)
    return " ".join(found[0].text_content().split()) if found else ""


def _links(tree: lxml_html.HtmlElement, url: str) -> tuple[str, ...]:
    found: dict[str, None] = {}
    for anchor in tree.xpath("//a[@href]"):
        if "nofollow" in str(anchor.get("rel") or "").lower().split():
            continue
        target = urldefrag(urljoin(url, str(anchor.get("href")).strip())).url
        if target.startswith(("http://", "https://")):
            found[target] = None
    return tuple(found)


def _robots_directives(tree: lxml_html.HtmlElement) -> set[str]:
    """`<meta name="robots" content="noindex, follow">` → {"noindex", "follow"}."""
    found: set[str] = set()
    for meta in tree.xpath("//meta[@name and @content]"):
        if str(meta.get("name")).lower() in ("robots", "supportbot"):
            found.update(part.strip().lower() for part in str(meta.get("content")).split(","))
    if "none" in found:
        found.update(("noindex", "nofollow"))
    return found
