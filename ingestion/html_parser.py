"""HTML files: title, canonical URL and h1–h6 sections from the visible article text.

Page chrome (script, style, nav, header, footer, aside, forms) is dropped; when the page
has a <main> or <article>, only that is read.
"""

from __future__ import annotations

from bs4 import BeautifulSoup
from bs4.element import NavigableString, Tag

from ingestion.content import DocumentContent
from ingestion.sections import SectionBuilder, clean_inline

BOILERPLATE = (
    "script",
    "style",
    "noscript",
    "template",
    "nav",
    "header",
    "footer",
    "aside",
    "form",
)
HEADINGS = {f"h{level}": level for level in range(1, 7)}
_BLOCKS_WORDS = (
    "p div section article main body blockquote ul ol li table pre dl dt dd figure "
    "details summary hr br address center"
)
_BLOCKS = frozenset(_BLOCKS_WORDS.split())


def parse_html(text: str) -> DocumentContent:
    soup = BeautifulSoup(text, "lxml")
    url = canonical_url(soup)
    for tag in soup(BOILERPLATE):
        tag.decompose()
    root = soup.find("main") or soup.find("article") or soup.body or soup
    builder = SectionBuilder(page_title(soup))
    _HtmlWalker(builder).walk(root)
    return DocumentContent(builder.title, url, builder.build())


def page_title(soup: BeautifulSoup) -> str | None:
    """`<title>`, unless the first <h1> is a cleaner form of it ("Mute a topic | Acme Help")."""
    title_tag = soup.find("title")
    h1 = soup.find("h1")
    return choose_title(
        _text(title_tag) if isinstance(title_tag, Tag) else "",
        _text(h1) if isinstance(h1, Tag) else "",
    )


def choose_title(title: str, heading: str) -> str | None:
    """The first <h1> when it is the page's <title> without the site's name, else <title>."""
    if heading and (not title or heading in title):
        return heading
    return title or None


def canonical_url(soup: BeautifulSoup) -> str | None:
    link = soup.find("link", rel="canonical")
    if isinstance(link, Tag) and link.get("href"):
        return str(link["href"]).strip() or None
    meta = soup.find("meta", attrs={"property": "og:url"})
    if isinstance(meta, Tag) and meta.get("content"):
        return str(meta["content"]).strip() or None
    return None


class _HtmlWalker:
    def __init__(self, builder: SectionBuilder) -> None:
        self._builder = builder
        self._inline: list[str] = []

    def walk(self, node: Tag) -> None:
        self._container(node)
        self._flush()

    def _container(self, node: Tag) -> None:
        for child in node.children:
            if isinstance(child, NavigableString):
                if type(child) is NavigableString:
                    self._inline.append(str(child))
            elif isinstance(child, Tag):
                self._element(child)

    def _element(self, tag: Tag) -> None:
        name = tag.name
        if name in HEADINGS:
            self._flush()
            self._builder.heading(HEADINGS[name], _text(tag))
        elif name == "pre":
            self._flush()
            self._builder.block("```\n" + tag.get_text().strip("\n") + "\n```")
        elif name in ("ul", "ol"):
            self._flush()
            self._builder.block("\n".join(_list_lines(tag)))
        elif name == "table":
            self._flush()
            self._builder.block("\n".join(_table_lines(tag)))
        elif name == "br":
            self._inline.append("\n")
        elif name in _BLOCKS:
            self._flush()
            self._container(tag)
            self._flush()
        elif name == "img":
            self._inline.append(str(tag.get("alt") or ""))
        else:
            self._container(tag)

    def _flush(self) -> None:
        text = clean_inline("".join(self._inline))
        self._inline = []
        if text:
            self._builder.block(text)


def _text(tag: Tag) -> str:
    """Visible text of an element on one line: inline tags join words, block tags space them."""
    return " ".join(_flat_text(tag).split())


def _flat_text(node: Tag) -> str:
    parts = []
    for child in node.children:
        if type(child) is NavigableString:
            parts.append(str(child))
        elif isinstance(child, Tag):
            if child.name == "img":
                parts.append(str(child.get("alt") or ""))
            elif child.name in _BLOCKS or child.name in HEADINGS:
                parts.append(f" {_flat_text(child)} ")
            else:
                parts.append(_flat_text(child))
    return "".join(parts)


def _list_lines(tag: Tag) -> list[str]:
    ordered = tag.name == "ol"
    lines = []
    for number, item in enumerate(tag.find_all("li", recursive=False), start=1):
        nested = item.find_all(["ul", "ol"], recursive=False)
        for sub in nested:
            sub.extract()
        marker = f"{number}. " if ordered else "- "
        lines.append(marker + _text(item))
        for sub in nested:
            lines.extend(" " * len(marker) + line for line in _list_lines(sub))
    return lines


def _table_lines(tag: Tag) -> list[str]:
    rows = []
    for row in tag.find_all("tr"):
        cells = [_text(cell).replace("|", "\\|") for cell in row.find_all(["th", "td"])]
        if any(cells):
            rows.append("| " + " | ".join(cells) + " |")
    return rows
