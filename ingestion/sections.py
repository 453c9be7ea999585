"""Turns a stream of headings and text blocks into `Section`s with honest heading paths."""

from __future__ import annotations

import re

from bot.domain import Section

_SPACES = re.compile(r"[ \t\u00a0]+")


def clean_inline(text: str) -> str:
    """Collapse runs of spaces and trim; keeps line breaks."""
    return "\n".join(_SPACES.sub(" ", line).strip() for line in text.split("\n")).strip()


class SectionBuilder:
    """Collects blocks under the current heading path.

    The first level-1 heading (or any heading equal to a title given by front matter or
    `<title>`) is the article's title, not a section: its content has an empty path.
    """

    def __init__(self, title: str | None = None) -> None:
        self.title = title
        self._stack: list[tuple[int, str]] = []
        self._blocks: list[str] = []
        self._sections: list[Section] = []

    def heading(self, level: int, text: str) -> None:
        text = clean_inline(text)
        if not text:
            return
        if not self._sections and not self._stack and not self._blocks:
            if self.title is None and level == 1:
                self.title = text
                return
            if text == self.title:
                return
        self._flush()
        while self._stack and self._stack[-1][0] >= level:
            self._stack.pop()
        self._stack.append((level, text))

    def block(self, text: str) -> None:
        text = text.strip("\n")
        if text.strip():
            self._blocks.append(text)

    def build(self) -> tuple[Section, ...]:
        self._flush()
        return tuple(self._sections)

    def _flush(self) -> None:
        if self._blocks:
            path = tuple(heading for _, heading in self._stack)
            self._sections.append(Section(heading_path=path, blocks=tuple(self._blocks)))
            self._blocks = []
