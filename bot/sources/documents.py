"""A connector's `SourceDocument` → the `ParsedDocument` the ingestion pipeline indexes.

Bodies go through today's parsers (Markdown with front matter, macros and admonitions;
HTML with boilerplate removed), so a help center reads the same from a folder, a Git
repository or an API. A body is self-contained: an include directive left in it fails
that document (connectors expand includes themselves, as the Git source does).
"""

from __future__ import annotations

from bot.domain import ParsedDocument, Section
from bot.errors import IngestionError
from bot.sources.protocol import SourceDocument
from ingestion.includes import IncludeExpander
from ingestion.parsing import HTML, MARKDOWN, DocumentParser
from ingestion.urls import title_from_name


class _NoFiles:
    """The tree behind a self-contained body: nothing to include."""

    def paths(self) -> list[str]:
        return []

    def read_bytes(self, path: str) -> bytes:
        raise FileNotFoundError(path)

    def read_root_file(self, name: str) -> bytes | None:
        return None


_NO_INCLUDES = IncludeExpander(_NoFiles())


def parse_source_document(doc: SourceDocument, parser: DocumentParser) -> ParsedDocument:
    """Raise IngestionError with a reason a person can act on."""
    kind = MARKDOWN if doc.body_format == "markdown" else HTML
    try:
        content = parser.content(kind, doc.body, doc.key, _NO_INCLUDES)
    except RecursionError as exc:
        raise IngestionError("nested too deeply to parse") from exc
    if not content.sections:
        raise IngestionError("no text content after parsing (only headings or markup)")
    sections = content.sections
    if doc.heading_path:
        # Where the article sits at the source (category › section) leads every heading
        # path, so it is searched and shown with the chunk.
        sections = tuple(
            Section((*doc.heading_path, *section.heading_path), section.blocks)
            for section in sections
        )
    return ParsedDocument(
        source_id=doc.key,
        title=doc.title or content.title or title_from_name(doc.key),
        url=doc.url or content.url or None,
        sections=sections,
    )
