"""Numbered citations: which passage each [n] in an answer points to.

Passages are numbered from 1 in the order they were given to the generator, so
`[n]` in the answer is `citations_for(passages)[n - 1]`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from bot.domain import HEADING_SEPARATOR, Candidate

# "[1]", "[1, 3]", "[2-4]", "[1][2]"; not Markdown links "[1](...)" or footnotes "[^1]".
_MARKER = re.compile(r"\[(\d+(?:\s*[-–,]\s*\d+)*)\](?!\()")
_RANGE = re.compile(r"(\d+)\s*[-–]\s*(\d+)")
_MAX_RANGE = 20


@dataclass(frozen=True, slots=True)
class Citation:
    """A passage the answer may cite as [number]."""

    number: int
    title: str
    url: str | None
    source_id: str
    heading_path: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """ "Article › Section", what a reader sees next to the number."""
        return HEADING_SEPARATOR.join((self.title, *self.heading_path))


def citations_for(passages: Sequence[Candidate]) -> list[Citation]:
    """One citation per passage, numbered like the prompt numbers them."""
    return [
        Citation(
            number=number,
            title=passage.chunk.title,
            url=passage.chunk.url,
            source_id=passage.chunk.source_id,
            heading_path=passage.chunk.heading_path,
        )
        for number, passage in enumerate(passages, start=1)
    ]


def cited_numbers(answer_text: str, limit: int | None = None) -> list[int]:
    """Passage numbers the answer cites, in order of first use, without repeats.

    With `limit` (the number of passages), numbers outside 1..limit are dropped:
    a model that invents [7] for five passages cites nothing real.
    """
    seen: dict[int, None] = {}
    for match in _MARKER.finditer(answer_text):
        for number in _expand(match.group(1)):
            if number >= 1 and (limit is None or number <= limit):
                seen.setdefault(number, None)
    return list(seen)


def cited_citations(citations: Sequence[Citation], answer_text: str) -> list[Citation]:
    """The citations the answer actually used, in the order it used them."""
    by_number = {citation.number: citation for citation in citations}
    return [by_number[n] for n in cited_numbers(answer_text) if n in by_number]


def _expand(group: str) -> list[int]:
    numbers: list[int] = []
    for part in group.split(","):
        span = _RANGE.fullmatch(part.strip())
        if span is None:
            numbers.append(int(part))
            continue
        start, end = int(span.group(1)), int(span.group(2))
        if start <= end <= start + _MAX_RANGE:
            numbers.extend(range(start, end + 1))
    return numbers
