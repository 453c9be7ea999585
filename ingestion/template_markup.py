"""Template macros such as `{tab|desktop-web}` or `{settings_tab|notifications}`.

Help centers built with static-site generators carry macros that the site expands at
build time. Left as-is they would be indexed as junk words, so each one is rendered as
the Markdown it stands for by a `MacroRenderer`, or dropped when nothing knows it.
Text inside fenced code blocks and inline code spans is never touched: `{id}` in a URL
template there is content, not a macro.

Generic rules, safe for any help center:
- a line holding only an unknown macro is dropped;
- an unknown inline macro with arguments becomes its arguments as words;
- an inline `{word}` without arguments is left alone (it is often a placeholder).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol

MACRO = re.compile(r"\{([A-Za-z][\w-]*)((?:\|[^{}|\n]*)*)\}")
_FENCE = re.compile(r"^\s*(`{3,}|~{3,})")
_CODE_SPAN = re.compile(r"(`+).+?\1")


class MacroRenderer(Protocol):
    def render(self, name: str, args: tuple[str, ...]) -> str | None:
        """Markdown the macro stands for ("" drops it); None when this renderer does not know it."""
        ...


def humanize(slug: str) -> str:
    """`via-compose-box` → "Via compose box"."""
    words = re.sub(r"[-_]+", " ", slug).strip()
    return words[:1].upper() + words[1:]


class TemplateMarkup:
    """Applies a chain of renderers to Markdown source, line by line, outside code."""

    def __init__(self, renderers: Sequence[MacroRenderer] = ()) -> None:
        self._renderers = tuple(renderers)

    def render(self, text: str) -> str:
        out: list[str] = []
        fence: str | None = None
        for line in text.split("\n"):
            fence_match = _FENCE.match(line)
            if fence is None and fence_match:
                fence = fence_match.group(1)
                out.append(line)
            elif fence is not None and _closes(fence, line):
                fence = None
                out.append(line)
            elif fence is not None or "{" not in line:
                out.append(line)
            else:
                out.extend(self._render_line(line))
        return "\n".join(out)

    def _render_line(self, line: str) -> list[str]:
        stripped = line.strip()
        whole = MACRO.fullmatch(stripped)
        if whole:
            rendered = self._lookup(whole) or ""
            indent = line[: len(line) - len(line.lstrip())]
            return [indent + part if part.strip() else "" for part in rendered.split("\n")]
        pieces: list[str] = []
        position = 0
        for span in _CODE_SPAN.finditer(line):
            pieces.append(MACRO.sub(self._inline, line[position : span.start()]))
            pieces.append(span.group(0))
            position = span.end()
        pieces.append(MACRO.sub(self._inline, line[position:]))
        return ["".join(pieces)]

    def _inline(self, match: re.Match[str]) -> str:
        rendered = self._lookup(match)
        if rendered is not None:
            lines = [re.sub(r"^\s*(?:\d+\.|[-*+])\s+", "", item) for item in rendered.split("\n")]
            return " ".join(item.strip() for item in lines if item.strip())
        args = _args(match)
        if not args:
            return match.group(0)
        return " ".join(humanize(arg) for arg in args if arg.strip())

    def _lookup(self, match: re.Match[str]) -> str | None:
        name, args = match.group(1), _args(match)
        for renderer in self._renderers:
            rendered = renderer.render(name, args)
            if rendered is not None:
                return rendered.strip("\n")
        return None


def _closes(fence: str, line: str) -> bool:
    stripped = line.strip()
    return len(stripped) >= len(fence) and stripped == fence[0] * len(stripped)


def _args(match: re.Match[str]) -> tuple[str, ...]:
    raw = match.group(2)
    return tuple(raw[1:].split("|")) if raw else ()
