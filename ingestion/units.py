"""The pieces a chunk is packed from: sentences of a paragraph, lines of everything else.

A chunk boundary only ever falls between two units, so lists, tables and code are
never cut inside a line; only a single line longer than the unit limit is split, first
at sentence ends, then between words, and for one giant word, between characters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.domain import Section
from bot.embedding.protocol import TokenCounter

_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+(?=\S)|(?<=[。！？])(?=\S)")
_WHITESPACE = re.compile(r"\s+")
_FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})")
BLOCK_JOINER = "\n\n"
LINE_JOINER = "\n"


@dataclass(frozen=True, slots=True)
class Unit:
    text: str
    tokens: int
    """Model tokens, or len(text) / CHARS_PER_TOKEN_CAP when that is more (see there)."""
    joiner: str
    """What separates this unit from the previous one in the source ("\\n\\n", "\\n", " " or "")."""
    fence_before: str | None = None
    """Opening fence line of the code block this unit sits in (None outside code)."""
    fence_after: str | None = None
    """Opening fence line still open after this unit (None when code is closed or absent)."""


def closing_fence(opening: str) -> str:
    match = _FENCE.match(opening)
    return f"{match.group(1)}{match.group(2)}" if match else "```"


def closes_fence(opening: str, line: str) -> bool:
    """CommonMark: same character, at least as long, nothing else on the line."""
    marker = closing_fence(opening).lstrip()
    stripped = line.strip()
    return (
        stripped[:1] == marker[0]
        and len(stripped) >= len(marker)
        and stripped == marker[0] * len(stripped)
    )


def render_units(units: list[Unit]) -> str:
    """Chunk text for consecutive units; re-opens/closes a code fence cut by the boundary."""
    parts = []
    if units[0].fence_before is not None:
        parts.append(units[0].fence_before + LINE_JOINER)
    for index, unit in enumerate(units):
        if index:
            parts.append(unit.joiner)
        parts.append(unit.text)
    if units[-1].fence_after is not None:
        parts.append(LINE_JOINER + closing_fence(units[-1].fence_after))
    return "".join(parts)


CHARS_PER_TOKEN_CAP = 6
"""Also cap units by characters: WordPiece counts any word over 100 characters as one
[UNK] token, so a base64 blob would otherwise pass as a single "token"."""


class UnitSplitter:
    def __init__(self, counter: TokenCounter, unit_limit: int) -> None:
        self._counter = counter
        self._limit = unit_limit
        self._char_limit = unit_limit * CHARS_PER_TOKEN_CAP

    @staticmethod
    def _unit(text: str, tokens: int, joiner: str) -> Unit:
        return Unit(text, max(tokens, -(-len(text) // CHARS_PER_TOKEN_CAP)), joiner)

    def _fits(self, text: str, tokens: int) -> bool:
        return tokens <= self._limit and len(text) <= self._char_limit

    def section_units(self, section: Section) -> list[Unit]:
        units: list[Unit] = []
        for block in section.blocks:
            lines = block.split("\n")
            if len(lines) == 1:
                units.extend(self._pieces(lines[0], BLOCK_JOINER, sentences=True))
            else:
                units.extend(self._line_units(lines))
        return units

    def _line_units(self, lines: list[str]) -> list[Unit]:
        units: list[Unit] = []
        fence: str | None = None
        for index, line in enumerate(lines):
            before = fence
            if fence is None and _FENCE.match(line):
                fence = line
            elif fence is not None and closes_fence(fence, line):
                fence = None
            joiner = BLOCK_JOINER if index == 0 else LINE_JOINER
            for piece in self._pieces(line, joiner, sentences=False):
                units.append(Unit(piece.text, piece.tokens, piece.joiner, before, fence))
        return units

    def _pieces(self, text: str, joiner: str, *, sentences: bool) -> list[Unit]:
        """`text` as one unit, or its sentences (always for paragraphs, else only when too long)."""
        if not sentences:
            tokens = self._counter.count_tokens(text)
            if self._fits(text, tokens):
                return [self._unit(text, tokens, joiner)]
        units: list[Unit] = []
        for separator, part in _split_keep(text, _SENTENCE_END):
            units.extend(self._words(part, separator if units else joiner))
        return units

    def _words(self, text: str, joiner: str) -> list[Unit]:
        tokens = self._counter.count_tokens(text)
        if self._fits(text, tokens):
            return [self._unit(text, tokens, joiner)]
        units: list[Unit] = []
        current: list[str] = []
        current_tokens = current_chars = 0
        for separator, word in _split_keep(text, _WHITESPACE):
            cost = self._counter.count_tokens(word)
            grows = current_chars + len(separator) + len(word)
            if current and not self._fits("x" * grows, current_tokens + cost):
                units.append(
                    self._unit("".join(current), current_tokens, joiner if not units else " ")
                )
                current, current_tokens, current_chars = [], 0, 0
            if not self._fits(word, cost):
                units.extend(self._characters(word, joiner if not units else separator or " "))
                continue
            current.extend([separator, word] if current else [word])
            current_tokens += cost
            current_chars = len("".join(current))
        if current:
            units.append(self._unit("".join(current), current_tokens, joiner if not units else " "))
        return units

    def _characters(self, word: str, joiner: str) -> list[Unit]:
        units: list[Unit] = []
        start = 0
        while start < len(word):
            low, high = start + 1, min(len(word), start + self._char_limit)
            while low < high:  # longest prefix that fits
                middle = (low + high + 1) // 2
                if self._counter.count_tokens(word[start:middle]) <= self._limit:
                    low = middle
                else:
                    high = middle - 1
            piece = word[start:low]
            tokens = self._counter.count_tokens(piece)
            units.append(self._unit(piece, tokens, joiner if not units else ""))
            start = low
        return units


def _split_keep(text: str, pattern: re.Pattern[str]) -> list[tuple[str, str]]:
    """Split at `pattern`, keeping each piece's preceding separator: [(sep, piece), ...]."""
    pieces: list[tuple[str, str]] = []
    position, separator = 0, ""
    for match in pattern.finditer(text):
        if match.start() > position:
            pieces.append((separator, text[position : match.start()]))
            separator = match.group(0)
        else:
            separator += match.group(0)
        position = match.end()
    if position < len(text):
        pieces.append((separator, text[position:]))
    return pieces or [("", text)]
