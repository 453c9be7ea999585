"""Walk a source tree and parse every article, collecting failures instead of stopping.

Files under the root's `include/` folder, and any file another document pulls in with
`{!file.md!}`, are fragments: they are expanded where used and never indexed alone.
Files matching the ignore rules (`ingestion.ignore`) are not articles either, but stay
readable, so an article can still include one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from bot.domain import ParsedDocument
from bot.errors import IngestionError
from ingestion.decoding import decode_text
from ingestion.ignore import IgnoreRules
from ingestion.includes import INCLUDE_FOLDER, IncludeExpander
from ingestion.parsing import MARKDOWN, DocumentParser, document_kind
from ingestion.sources import SourceTree

logger = logging.getLogger(__name__)


@dataclass
class Collection:
    documents: list[ParsedDocument] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    fragments: set[str] = field(default_factory=set)
    """Include-only files: expanded into articles, not indexed themselves."""
    ignored: list[str] = field(default_factory=list)
    """Documents left out by an ignore pattern (fragments not counted: never articles)."""
    kept: set[str] = field(default_factory=set)
    """Indexed documents the source reports unchanged without sending them again."""


def include_fragments(
    tree: SourceTree,
    includes: IncludeExpander,
    paths: list[str],
    ignored: frozenset[str] = frozenset(),
) -> set[str]:
    """Paths under `include/` plus every path an include directive names.

    Directives count in articles and fragments, and in what those pull in, but not in an
    ignored file that nothing includes: ignoring a draft must not hide the articles it
    happens to include.
    """
    fragments = {path for path in paths if path.startswith(f"{INCLUDE_FOLDER}/")}
    pending = [path for path in paths if path not in ignored or path in fragments]
    scanned: set[str] = set()
    while pending:
        path = pending.pop()
        if path in scanned or document_kind(path) != MARKDOWN:
            continue
        scanned.add(path)
        try:
            text = decode_text(tree.read_bytes(path), allow_empty=True)
        except (IngestionError, OSError):
            continue  # reported when the file itself is parsed
        found = includes.referenced_paths(text, path)
        fragments |= found
        pending.extend(found)
    return fragments


def collect_documents(
    tree: SourceTree,
    parser: DocumentParser,
    *,
    base_url: str | None = None,
    ignore: IgnoreRules | None = None,
    on_parsed: Callable[[int, int, str], None] | None = None,
) -> Collection:
    paths = [path for path in tree.paths() if document_kind(path) is not None]
    ignored = frozenset(path for path in paths if ignore and ignore.ignored(path))
    includes = IncludeExpander(tree)
    collection = Collection(fragments=include_fragments(tree, includes, paths, ignored))
    collection.ignored = sorted(ignored - collection.fragments)
    if collection.ignored:
        logger.info("ignoring %d documents matching ignore patterns", len(collection.ignored))
    not_articles = collection.fragments | ignored
    articles = [path for path in paths if path not in not_articles]
    for done, path in enumerate(articles, start=1):
        try:
            collection.documents.append(parser.parse(tree, path, includes, base_url))
        except IngestionError as exc:
            logger.info("cannot ingest %s: %s", path, exc.message)
            collection.failed[path] = exc.message
        if on_parsed is not None:
            on_parsed(done, len(articles), path)
    return collection
