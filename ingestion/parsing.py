"""One source file → one `ParsedDocument`, whatever its format.

Formats are chosen by extension; files of other types are not documents (images,
stylesheets) and are left out of the ingest without being reported as failures.
"""

from __future__ import annotations

import posixpath
from typing import TYPE_CHECKING

from bot.domain import ParsedDocument
from bot.errors import IngestionError
from ingestion.content import DocumentContent
from ingestion.decoding import decode_text
from ingestion.includes import IncludeExpander
from ingestion.sources import SourceTree
from ingestion.template_markup import TemplateMarkup
from ingestion.text_parser import parse_text
from ingestion.urls import document_url, title_from_name
from ingestion.zulip_markup import ZulipMarkup

if TYPE_CHECKING:
    from ingestion.markdown_parser import MarkdownParser

MARKDOWN = "markdown"
HTML = "html"
TEXT = "text"
SUFFIXES = {
    ".md": MARKDOWN,
    ".markdown": MARKDOWN,
    ".mdown": MARKDOWN,
    ".mkd": MARKDOWN,
    ".html": HTML,
    ".htm": HTML,
    ".xhtml": HTML,
    ".txt": TEXT,
    ".text": TEXT,
}


def document_kind(path: str) -> str | None:
    """ "markdown", "html", "text", or None for a file that is not a document."""
    return SUFFIXES.get(posixpath.splitext(path)[1].lower())


def default_markup() -> TemplateMarkup:
    """Zulip's macros are distinctive (`{tab|…}`, `{settings_tab|…}`), so they are on by default."""
    return TemplateMarkup([ZulipMarkup()])


class DocumentParser:
    def __init__(self, markup: TemplateMarkup | None = None) -> None:
        self._markup = markup
        self._markdown_parser: MarkdownParser | None = None

    @property
    def _markdown(self) -> MarkdownParser:
        # Imported on the first Markdown file, like bs4 on the first HTML one: the parsers
        # cost ~0.3 s of imports that every process wiring an Ingestor (a CLI search, an
        # API worker's start) would pay without parsing anything.
        if self._markdown_parser is None:
            from ingestion.markdown_parser import MarkdownParser

            self._markdown_parser = MarkdownParser(self._markup or default_markup())
        return self._markdown_parser

    def parse(
        self, tree: SourceTree, path: str, includes: IncludeExpander, base_url: str | None = None
    ) -> ParsedDocument:
        """Raise IngestionError with a reason a person can act on."""
        kind = document_kind(path)
        if kind is None:
            raise IngestionError("not a Markdown, HTML or plain-text file")
        try:
            text = decode_text(tree.read_bytes(path))
        except FileNotFoundError as exc:
            raise IngestionError("file disappeared while ingesting") from exc
        except OSError as exc:
            raise IngestionError(f"cannot read it: {exc}") from exc
        content = self.content(kind, text, path, includes)
        if not content.sections:
            raise IngestionError("no text content after parsing (only headings or markup)")
        return ParsedDocument(
            source_id=path,
            title=content.title or title_from_name(path),
            url=document_url(path, content.url, base_url),
            sections=content.sections,
        )

    def content(
        self, kind: str, text: str, path: str, includes: IncludeExpander
    ) -> DocumentContent:
        """Parse text already read (a file, or a connected source's article body)."""
        try:
            if kind == MARKDOWN:
                return self._markdown.parse(text, path, includes)
            if kind == HTML:
                from ingestion.html_parser import parse_html

                return parse_html(text)
            return parse_text(text)
        except RecursionError as exc:
            raise IngestionError("nested too deeply to parse") from exc
