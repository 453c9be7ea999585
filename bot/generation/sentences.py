"""Split a passage into readable units (sentences, list items, headings) and match words.

The extractive answer quotes whole units, never a cut sentence. Help-center text is
often Markdown hard-wrapped at 80 columns, so wrapped lines are joined back first.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

_BLOCK_START = re.compile(r"^\s*(?:[-*+]\s|\d{1,3}[.)]\s|#{1,6}\s|\||>|```)")
_ITEM = re.compile(r"^\s*(?:[-*+]|\d{1,3}[.)])\s")
_HEADING = re.compile(r"^\s*#{1,6}\s+")
# A sentence ends at . ! ? (plus closing quotes or brackets) followed by space and a capital,
# digit, quote, bracket or Markdown emphasis.
_SENTENCE_END = re.compile(r"[.!?][\"'”’)\]]*(?=\s+[A-Z0-9\"'“‘(\[*_`])")
_ABBREVIATIONS = frozenset({"e.g.", "i.e.", "etc.", "vs.", "mr.", "mrs.", "dr.", "no.", "approx."})
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_SUFFIXES = ("ing", "ed", "es", "s", "e", "ly")
_STOPWORD_TEXT = """
a an and are as at be been but by can could do does did for from get got has have
how i if in into is it its me my no not of on or our so that the their them then
there these they this to up us was we were what when where which who why will with
would you your want need please hi hello thanks thank any some just should only
like also still really even very too than whether
"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())


@dataclass(frozen=True, slots=True)
class Unit:
    """A sentence, list item or heading, with how it sat in the original layout."""

    text: str
    starts_line: bool
    is_item: bool = False
    is_heading: bool = False

    @property
    def ends_with_colon(self) -> bool:
        return self.text.rstrip().endswith(":")


def split_units(text: str) -> list[Unit]:
    """Units in reading order; joining them back (see `render_units`) reads like the source."""
    units: list[Unit] = []
    for line in _logical_lines(text):
        if _HEADING.match(line):
            units.append(Unit(_HEADING.sub("", line).strip(), True, is_heading=True))
        elif _ITEM.match(line) or line.startswith(("|", ">", "```")):
            units.append(Unit(line, True, is_item=True))
        else:
            units.extend(
                Unit(sentence, index == 0) for index, sentence in enumerate(_sentences(line))
            )
    return units


def render_units(units: list[Unit]) -> str:
    """Join units the way they were laid out: new lines where the source had them."""
    parts: list[str] = []
    for unit in units:
        text = f"{unit.text}:" if unit.is_heading and not unit.ends_with_colon else unit.text
        if parts:
            parts.append("\n" if unit.starts_line else " ")
        parts.append(text)
    return "".join(parts)


def terms(text: str) -> set[str]:
    """Content words reduced to crude stems, so "changing" matches "change"."""
    return {_stem(word) for word in _WORD.findall(text.lower()) if word not in STOPWORDS}


def matched_terms(question_terms: Iterable[str], text_terms: set[str]) -> set[str]:
    """Question terms found in the text; a term also matches longer words it starts ("org")."""
    return {
        term
        for term in question_terms
        if term in text_terms or any(found.startswith(term) for found in text_terms)
    }


def _stem(word: str) -> str:
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            break
    return word[:5]


def _logical_lines(text: str) -> list[str]:
    """Source lines with hard wraps undone; blank lines and block starts end a line."""
    lines: list[str] = []
    open_line = False
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            open_line = False
            continue
        if open_line and not _BLOCK_START.match(raw) and not lines[-1].startswith(("|", "```")):
            lines[-1] = f"{lines[-1]} {line}"
        else:
            lines.append(line)
        open_line = True
    return lines


def _sentences(paragraph: str) -> list[str]:
    pieces: list[str] = []
    start = 0
    for match in _SENTENCE_END.finditer(paragraph):
        candidate = paragraph[start : match.end()].strip()
        last_word = candidate.rsplit(" ", 1)[-1].lower().strip("\"'()[]“”‘’")
        if last_word in _ABBREVIATIONS:
            continue
        pieces.append(candidate)
        start = match.end()
    tail = paragraph[start:].strip()
    if tail:
        pieces.append(tail)
    return [piece for piece in pieces if piece]
