"""Ignore patterns: files of a source that are not articles (licence notes, drafts, READMEs).

gitignore semantics, so admins can reuse what they know: one pattern a line, `#` comments,
`!` re-includes, a trailing `/` matches folders only, a pattern with a `/` at its start or
middle is anchored at the source root (otherwise it matches at any depth), `*` and `?`
stay within one path segment, `**` spans segments, and, as in git, a file inside an
ignored folder cannot be re-included. The last matching pattern wins.

Matching is `pathspec`'s GitIgnoreSpec; this module adds where patterns come from.
"""

from __future__ import annotations

from collections.abc import Iterable

import pathspec

from bot.errors import IngestionError
from ingestion.decoding import decode_text
from ingestion.sources import SourceTree

IGNORE_FILE = ".supportbotignore"
"""Read from the source root; its patterns apply to that source only."""


class IgnoreRules:
    """An ordered list of patterns; later ones override earlier ones, as in git."""

    def __init__(self, patterns: Iterable[str] = ()) -> None:
        self._patterns = [line.rstrip("\n\r") for line in patterns]
        self._spec = pathspec.GitIgnoreSpec.from_lines(self._patterns)

    def __bool__(self) -> bool:
        return bool(self._spec.patterns) and any(
            pattern.include is not None for pattern in self._spec.patterns
        )

    def __add__(self, later: IgnoreRules) -> IgnoreRules:
        return IgnoreRules([*self._patterns, *later._patterns])

    def ignored(self, path: str) -> bool:
        """Whether the file at posix `path` (relative to the root) is left out."""
        if not self:
            return False
        parts = path.split("/")
        for depth in range(1, len(parts)):
            if self._spec.match_file("/".join(parts[:depth]) + "/"):
                return True  # nothing under an ignored folder can be re-included
        return self._spec.match_file(path)


def source_rules(
    tree: SourceTree, defaults: Iterable[str] = (), extra: Iterable[str] = ()
) -> IgnoreRules:
    """Settings patterns, then the source's own file, then this run's: the most specific wins.

    An unreadable ignore file stops the ingest: indexing everything instead could put
    files the admin meant to keep out in front of customers.
    """
    try:
        data = tree.read_root_file(IGNORE_FILE)
        text = "" if data is None else decode_text(data, allow_empty=True)
    except (IngestionError, OSError) as exc:
        reason = exc.message if isinstance(exc, IngestionError) else str(exc)
        raise IngestionError(
            f"cannot read {IGNORE_FILE} at the source root: {reason}; fix or remove it"
        ) from exc
    return IgnoreRules(defaults) + IgnoreRules(text.splitlines()) + IgnoreRules(extra)
