"""markdown-include style `{!file.md!}` directives, expanded before parsing.

An include is looked up in the root's `include/` folder first (so a fragment never
resolves to an article of the same name), then next to the including file, then in
the ingested root. Included lines keep the directive's indentation so a
fragment included inside a list item stays inside it.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

from bot.errors import IngestionError
from ingestion.decoding import decode_text
from ingestion.sources import SourceTree

INCLUDE_FOLDER = "include"
MAX_INCLUDE_DEPTH = 20

_DIRECTIVE = re.compile(r"\{!\s*([^{}!\n]+?)\s*!\}")


@dataclass(frozen=True)
class Expansion:
    text: str
    used: frozenset[str]
    """Paths of every file pulled in, directly or through another include."""


class IncludeExpander:
    def __init__(self, tree: SourceTree) -> None:
        self._tree = tree
        self._paths = set(tree.paths())
        self._cache: dict[str, str] = {}

    def referenced_paths(self, text: str, path: str) -> set[str]:
        """Resolvable include targets named directly in `text` (no recursion, no errors)."""
        found = set()
        for match in _DIRECTIVE.finditer(text):
            target = self._resolve(match.group(1), path)
            if target is not None:
                found.add(target)
        return found

    def expand(self, text: str, path: str) -> Expansion:
        used: set[str] = set()
        expanded = self._expand(text, path, (path,), used)
        return Expansion(expanded, frozenset(used))

    def _expand(self, text: str, path: str, chain: tuple[str, ...], used: set[str]) -> str:
        if "{!" not in text:
            return text
        lines = []
        for line in text.split("\n"):
            match = _DIRECTIVE.search(line)
            if match is None:
                lines.append(line)
                continue
            lines.extend(self._expand_line(line, match, path, chain, used))
        return "\n".join(lines)

    def _expand_line(
        self, line: str, match: re.Match[str], path: str, chain: tuple[str, ...], used: set[str]
    ) -> list[str]:
        name = match.group(1)
        target = self._resolve(name, path)
        if target is None:
            raise IngestionError(
                f"missing include {name!r} (looked in {INCLUDE_FOLDER}/, next to {path} and in "
                "the root); add the file or remove the directive"
            )
        if target in chain:
            raise IngestionError(f"include cycle: {' → '.join((*chain, target))}")
        if len(chain) > MAX_INCLUDE_DEPTH:
            raise IngestionError(f"includes nested deeper than {MAX_INCLUDE_DEPTH} levels")
        used.add(target)
        body = self._expand(self._read(target), target, (*chain, target), used).strip("\n")
        prefix, suffix = line[: match.start()], line[match.end() :]
        # Re-scan the rest of the line: it may hold another directive.
        rest = self._expand(suffix, path, chain, used) if "{!" in suffix else suffix
        continuation = prefix if prefix.isspace() else " " * len(prefix)
        body_lines = body.split("\n")
        out = [prefix + body_lines[0]]
        out.extend(continuation + item if item.strip() else "" for item in body_lines[1:])
        out[-1] += rest
        return out

    def _resolve(self, name: str, path: str) -> str | None:
        here = posixpath.dirname(path)
        for base in (INCLUDE_FOLDER, here, ""):
            candidate = posixpath.normpath(posixpath.join(base, name.strip()))
            if candidate in self._paths and candidate != path:
                return candidate
        return None

    def _read(self, path: str) -> str:
        if path not in self._cache:
            try:
                self._cache[path] = decode_text(self._tree.read_bytes(path), allow_empty=True)
            except IngestionError as exc:
                raise IngestionError(f"include {path}: {exc.message}") from exc
        return self._cache[path]
