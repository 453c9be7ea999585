"""One conversational turn with the handoff rules, shared by every edge that chats.

- The customer asks for a person: no search; the transcript goes to the handoff webhook
  and the reply says so.
- The bot has no good answer (the pipeline declined): the reply is the decline text, the
  transcript goes to the handoff webhook, and the reply says it did.
- Otherwise: the pipeline's answer, unchanged.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from bot.answer import Answer, AnswerDelta, AnswerStart, SearchOutcome
from bot.generation.protocol import Turn
from bot.helpdesk.handoff import (
    HANDOFF_TEXT,
    NO_CHANNEL_TEXT,
    HandoffNotifier,
    HandoffReason,
    HandoffRequest,
    HandoffResult,
    asks_for_person,
)
from bot.insights.recorder import InsightsRecorder
from bot.observability.protocol import NO_OBSERVER, Observer
from bot.pipeline import SupportPipeline
from bot.retrieval.protocol import SearchBackend

HANDED_OFF_NOTE = "\n\nI've passed your question to our support team; a person will follow up."
NO_ANSWER_HANDED_OFF_TEXT = (
    "I couldn't find an answer to that in the help center, so I've passed your question "
    "to a person from our support team. They will follow up with you."
)


@dataclass(slots=True)
class TurnOutcome:
    """The last event of a turn: the final answer and what became of a handoff, if any."""

    answer: Answer
    handoff: HandoffResult | None = None
    handoff_reason: HandoffReason | None = None


TurnEvent = AnswerStart | AnswerDelta | TurnOutcome


class ConversationTurns:
    def __init__(
        self,
        pipeline: SupportPipeline,
        backend: SearchBackend,
        notifier: HandoffNotifier,
        observer: Observer = NO_OBSERVER,
        insights: InsightsRecorder | None = None,
    ) -> None:
        self._pipeline = pipeline
        self._backend = backend
        self._notifier = notifier
        self._observer = observer
        self._insights = insights

    async def take(
        self,
        kb: str,
        question: str,
        history: Sequence[Turn] = (),
        *,
        conversation_id: str | None = None,
        source: str,
        notify: bool = True,
    ) -> TurnOutcome:
        async for event in self.stream(
            kb, question, history, conversation_id=conversation_id, source=source, notify=notify
        ):
            if isinstance(event, TurnOutcome):
                return event
        raise AssertionError("a turn always ends with a TurnOutcome")

    async def stream(
        self,
        kb: str,
        question: str,
        history: Sequence[Turn] = (),
        *,
        conversation_id: str | None = None,
        source: str,
        notify: bool = True,
    ) -> AsyncIterator[TurnEvent]:
        """AnswerStart, AnswerDelta pieces, then one TurnOutcome. Errors before the first
        event (unknown KB, invalid question) raise, so edges can answer with a status.

        `notify=False` (a helpdesk ticket, where people already read along) decides the
        handoff reason but sends no transcript webhook."""
        if asks_for_person(question):
            await self._backend.stats(kb)  # KnowledgeBaseNotFound for an unknown KB
            handoff = None
            if notify:
                transcript = [*history, Turn("user", question)]
                handoff = await self._handoff(
                    kb, "user_request", source, transcript, conversation_id
                )
            text = HANDOFF_TEXT if handoff is None or handoff.delivered else NO_CHANNEL_TEXT
            search = SearchOutcome(kb, question, "none", [], False, "handoff requested", False)
            yield AnswerStart(citations=[], search=search)
            yield AnswerDelta(text)
            answer = Answer(text, "declined", [], [], search, handoff_suggested=True)
            self._observer.answer("declined", "declined", "handoff_requested")
            yield self._recorded(kb, question, TurnOutcome(answer, handoff, "user_request"))
            return

        # A declined answer's text is held back until we know whether a person was reached.
        final: Answer | None = None
        held = False
        async for event in self._pipeline.answer_stream(kb, question, history):
            if isinstance(event, Answer):
                final = event
            elif isinstance(event, AnswerStart):
                held = not event.search.answerable
                yield event
            elif not held:
                yield event
        assert final is not None
        if not final.handoff_suggested:
            if held:
                yield AnswerDelta(final.text)
            yield self._recorded(kb, question, TurnOutcome(final))
            return
        if not notify:
            if held:
                yield AnswerDelta(final.text)
            yield self._recorded(kb, question, TurnOutcome(final, None, "no_answer"), True)
            return
        transcript = [*history, Turn("user", question), Turn("assistant", final.text)]
        handoff = await self._handoff(kb, "no_answer", source, transcript, conversation_id)
        if handoff.delivered:
            text = NO_ANSWER_HANDED_OFF_TEXT if held else final.text + HANDED_OFF_NOTE
            final = dataclasses.replace(final, text=text)
            if not held:
                yield AnswerDelta(HANDED_OFF_NOTE)
        if held:
            yield AnswerDelta(final.text)
        yield self._recorded(kb, question, TurnOutcome(final, handoff, "no_answer"))

    def _recorded(
        self, kb: str, question: str, outcome: TurnOutcome, people_read_along: bool = False
    ) -> TurnOutcome:
        """Hand the finished turn to insights (in the background) and pass it on."""
        if self._insights is not None:
            self._insights.turn(
                kb,
                question,
                outcome.answer,
                handoff_requested=outcome.handoff_reason == "user_request",
                handed_off=people_read_along
                or (outcome.handoff is not None and outcome.handoff.delivered),
            )
        return outcome

    async def _handoff(
        self,
        kb: str,
        reason: HandoffReason,
        source: str,
        transcript: Sequence[Turn],
        conversation_id: str | None,
    ) -> HandoffResult:
        return await self._notifier.notify(
            HandoffRequest(kb, reason, source, transcript, conversation_id)
        )
