"""The model's own "the passages do not answer this" signal, and a parse that fails safe.

Where litellm says the model can call tools, the model is offered one tool,
`passages_do_not_answer`, and calls it instead of replying; otherwise it is asked to
reply with a strict marker and nothing else. Either way the pipeline turns the signal
into a declined answer with the offer of a person. Failing safe means: a tool call of
any kind (even with unreadable arguments), or the marker anywhere in the reply, in any
spacing or case, declines; the marker is never shown to the customer.
"""

from __future__ import annotations

import re
from typing import Any, Literal

DeclineSignal = Literal["auto", "tool", "marker"]

NO_ANSWER_MARKER = "[[NO_ANSWER]]"
NO_ANSWER_TOOL = "passages_do_not_answer"

_MARKER = re.compile(r"\[\[\s*no[\s_-]*answer\s*\]\]", re.IGNORECASE)
_MAX_MARKER_CHARS = 24
"""Longest loose spelling of the marker we hold back while it may still be one."""

TOOL_RULE = (
    f"If the passages do not contain the answer, call the `{NO_ANSWER_TOOL}` tool instead of "
    "replying. Do not make up steps, settings, prices or links."
)
MARKER_RULE = (
    f"If the passages do not contain the answer, reply with exactly {NO_ANSWER_MARKER} and "
    "nothing else. Do not make up steps, settings, prices or links."
)


class ModelDeclined(Exception):
    """The model said the passages do not answer the question."""


def no_answer_tool() -> dict[str, Any]:
    """The one tool offered (OpenAI function-calling shape, which litellm translates)."""
    return {
        "type": "function",
        "function": {
            "name": NO_ANSWER_TOOL,
            "description": "Say that the help-center passages do not answer the question, "
            "so the customer is offered a person instead.",
            "parameters": {
                "type": "object",
                "properties": {
                    "reason": {"type": "string", "description": "What the passages lack."}
                },
                "required": [],
            },
        },
    }


class MarkerFilter:
    """Passes answer text through, holding back only what may still become the marker.

    `feed` returns what is safe to show now; `declined` turns True as soon as the marker
    (loosely spelled) appears, after which nothing more is shown.
    """

    def __init__(self) -> None:
        self._pending = ""
        self.declined = False

    def feed(self, piece: str) -> str:
        if self.declined:
            return ""
        self._pending += piece
        if _MARKER.search(self._pending):
            self.declined = True
            self._pending = ""
            return ""
        cut = self._pending.rfind("[[")
        unclosed = cut != -1 and "]]" not in self._pending[cut:]
        if unclosed and len(self._pending) - cut < _MAX_MARKER_CHARS:
            shown, self._pending = self._pending[:cut], self._pending[cut:]
            return shown
        shown, self._pending = self._pending, ""
        return shown

    def finish(self) -> str:
        """The text still held back at the end of the reply (it was not the marker)."""
        shown, self._pending = ("" if self.declined else self._pending), ""
        return shown
