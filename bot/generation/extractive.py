"""The offline answer: quote the most relevant help-center passage, clearly labelled.

Used when no LLM is configured, and (built with `as_fallback=True`) when the LLM fails.
It quotes the top-ranked passage trimmed to the sentences that best cover the question's
words, and a second passage when it comes from another article and ranked nearly as well.
Deterministic: the same inputs always give the same answer.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass
from typing import Literal

from bot.domain import HEADING_SEPARATOR, Candidate
from bot.generation.protocol import Turn
from bot.generation.sentences import Unit, matched_terms, render_units, split_units, terms

NOT_CONFIGURED = "no language model is configured"
UNAVAILABLE = "our writing assistant is unavailable at the moment"


def intro(reason: str, excerpts: int) -> str:
    """The honest first line: why this is a quote and not a written answer."""
    what = "these passages" if excerpts > 1 else "this passage"
    verb = "look" if excerpts > 1 else "looks"
    return (
        f"I can't write a full answer right now ({reason}), "
        f"but {what} from our help center {verb} relevant:"
    )


INTRO_ONE = intro(NOT_CONFIGURED, 1)
INTRO_MANY = intro(NOT_CONFIGURED, 2)
RUNNER_UP_COVERAGE = 0.8
"""A second passage must match at least this share of the question words the first matched."""
NOTHING_FOUND = (
    "I couldn't find anything in our help center about that. Try rephrasing your "
    "question, or contact our support team."
)


@dataclass(frozen=True, slots=True)
class Excerpt:
    number: int
    label: str
    units: list[Unit]
    coverage: float


class ExtractiveGenerator:
    """Quotes passages instead of writing an answer; needs no model or network."""

    name = "extractive"
    mode: Literal["llm", "extractive"] = "extractive"

    def __init__(
        self,
        *,
        as_fallback: bool = False,
        max_chars: int = 700,
        second_passage_margin: float = 0.1,
    ) -> None:
        self.reason = UNAVAILABLE if as_fallback else NOT_CONFIGURED
        """Why there is no written answer: no LLM set, or (as the pipeline's fallback) it failed."""
        self.max_chars = max_chars
        """Budget for each quoted excerpt; whole sentences only."""
        self.second_passage_margin = second_passage_margin
        """A second article is quoted when its score is within this fraction of the first's."""

    async def stream(
        self, question: str, passages: Sequence[Candidate], history: Sequence[Turn] = ()
    ) -> AsyncGenerator[str, None]:
        for part in self.answer_parts(question, passages):
            yield part

    def answer(self, question: str, passages: Sequence[Candidate]) -> str:
        return "".join(self.answer_parts(question, passages))

    def answer_parts(self, question: str, passages: Sequence[Candidate]) -> list[str]:
        """Intro, then one quoted block per chosen passage, each marked [n]."""
        excerpts = self.choose_excerpts(question, passages)
        if not excerpts:
            return [NOTHING_FOUND]
        parts = [intro(self.reason, len(excerpts))]
        for excerpt in excerpts:
            quoted = "\n".join(f"> {line}" for line in render_units(excerpt.units).splitlines())
            parts.append(f'\n\nFrom "{excerpt.label}" [{excerpt.number}]:\n{quoted}')
        return parts

    def choose_excerpts(self, question: str, passages: Sequence[Candidate]) -> list[Excerpt]:
        """The top passage's best excerpt, plus a close runner-up from another article."""
        if not passages:
            return []
        unit_lists = [split_units(passage.chunk.text) for passage in passages]
        weights = _term_weights(terms(question), unit_lists)
        first = self._excerpt(1, passages[0], unit_lists[0], weights)
        if first is None:
            return []
        chosen = [first]
        for index in range(1, min(len(passages), 3)):
            passage = passages[index]
            if passage.chunk.source_id == passages[0].chunk.source_id:
                continue
            if not self._ranked_close(passages[0], passage):
                break
            second = self._excerpt(index + 1, passage, unit_lists[index], weights)
            if second is not None and second.coverage >= max(
                first.coverage * RUNNER_UP_COVERAGE, 1e-9
            ):
                chosen.append(second)
            break
        return chosen

    def _excerpt(
        self, number: int, passage: Candidate, units: list[Unit], weights: dict[str, float]
    ) -> Excerpt | None:
        if not units:
            return None
        window, coverage = _best_window(units, weights, self.max_chars)
        chunk = passage.chunk
        label = HEADING_SEPARATOR.join((chunk.title, *chunk.heading_path))
        return Excerpt(number, label, window, coverage)

    def _ranked_close(self, top: Candidate, other: Candidate) -> bool:
        if top.rerank_score is not None and other.rerank_score is not None:
            best, score = top.rerank_score, other.rerank_score
        else:
            best, score = top.fused_score, other.fused_score
        return score >= best - abs(best) * self.second_passage_margin


def _term_weights(question_terms: set[str], unit_lists: list[list[Unit]]) -> dict[str, float]:
    """Rarer words count more: 'password' beats a word every passage repeats."""
    unit_terms = [terms(unit.text) for units in unit_lists for unit in units]
    frequency = Counter(
        term for found in unit_terms for term in matched_terms(question_terms, found)
    )
    total = max(len(unit_terms), 1)
    return {term: math.log(1 + total / count) for term, count in frequency.items()}


def _best_window(
    units: list[Unit], weights: dict[str, float], max_chars: int
) -> tuple[list[Unit], float]:
    """The run of whole units within budget covering the most question words.

    Ties go to the shorter, then the earlier run. With no word in common, the
    passage's opening is quoted: the ranker still judged the passage relevant.
    """
    unit_terms = [matched_terms(weights.keys(), terms(unit.text)) for unit in units]
    best_score, best_start, best_end, best_length = -1.0, 0, 1, math.inf
    for start in range(len(units)):
        found: set[str] = set()
        length = 0
        for end in range(start + 1, len(units) + 1):
            length += len(units[end - 1].text) + 1
            if length > max_chars and end > start + 1:
                break
            found |= unit_terms[end - 1]
            score = sum(weights[term] for term in found)
            if score > best_score or (score == best_score and length < best_length):
                best_score, best_start, best_end, best_length = score, start, end, length
    if best_score <= 0:
        best_start, best_end = 0, 1
    start, end = _add_context(units, best_start, best_end, max_chars)
    return units[start:end], max(best_score, 0.0)


def _add_context(units: list[Unit], start: int, end: int, max_chars: int) -> tuple[int, int]:
    """Keep lists whole and give one-liners a little context, within the budget.

    A very short run takes what follows (up to the next heading and half the budget);
    a run that introduces a list ("To do this:") then takes the items that follow; a run
    starting inside a list takes the items before it (steps start at step 1) and the
    line introducing it.
    """

    def size(a: int, b: int) -> int:
        return sum(len(unit.text) + 1 for unit in units[a:b])

    while (
        end < len(units)
        and not units[end].is_heading
        and size(start, end) < max_chars // 3
        and size(start, end + 1) <= max_chars // 2
    ):
        end += 1
    if units[end - 1].ends_with_colon or units[end - 1].is_item:
        while end < len(units) and units[end].is_item and size(start, end + 1) <= max_chars:
            end += 1
    while start > 0 and units[start].is_item and units[start - 1].is_item:
        if size(start - 1, end) > max_chars:
            break
        start -= 1
    if start > 0 and units[start].is_item and not units[start - 1].is_item:
        intro = units[start - 1]
        if (intro.ends_with_colon or intro.is_heading) and size(start - 1, end) <= max_chars:
            start -= 1
    return start, end
