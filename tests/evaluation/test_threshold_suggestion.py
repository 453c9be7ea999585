"""The no-answer threshold `supportbot eval` suggests from labelled questions."""

from __future__ import annotations

from bot.evaluation.threshold import suggest_threshold


def test_the_highest_threshold_within_five_percent_false_declines() -> None:
    answerable = [0.30 + 0.01 * i for i in range(40)]  # 0.30 … 0.69
    suggestion = suggest_threshold(answerable, [0.10, 0.305, 0.32, 0.50])
    assert suggestion is not None
    # 5 % of 40 = 2 answerable may fall below: the third lowest score is the threshold.
    assert suggestion.threshold == answerable[2]
    assert (suggestion.false_declines, suggestion.answerable) == (2, 40)
    assert (suggestion.declines, suggestion.unanswerable) == (2, 4)  # 0.10 and 0.305


def test_small_sets_allow_no_false_decline() -> None:
    suggestion = suggest_threshold([0.9, 0.4, 0.7], [0.2])
    assert suggestion is not None
    assert suggestion.threshold == 0.4 and suggestion.false_declines == 0
    assert suggestion.declines == 1


def test_nothing_to_suggest_without_answerable_questions() -> None:
    assert suggest_threshold([], [0.1]) is None
