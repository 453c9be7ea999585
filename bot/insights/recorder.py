"""InsightsRecorder: turns a finished chat turn into a `QuestionEvent`, in the background.

Recording must never slow or fail an answer: `turn()` only schedules the write on the
running loop and returns; a failed write is logged and dropped. Pending writes are kept
referenced (so they are not garbage-collected mid-flight) and awaited on shutdown.
"""

from __future__ import annotations

import asyncio
import logging
import time

from bot.answer import Answer
from bot.insights.protocol import MAX_QUESTION_CHARS, InsightsStore, QuestionEvent, TurnOutcomeKind

log = logging.getLogger(__name__)

MAX_PENDING = 1000
"""Writes in flight beyond this are dropped (a stalled store must not grow memory)."""


class InsightsRecorder:
    def __init__(self, store: InsightsStore) -> None:
        self._store = store
        self._pending: set[asyncio.Task[None]] = set()

    def turn(
        self,
        kb: str,
        question: str,
        answer: Answer,
        *,
        handoff_requested: bool,
        handed_off: bool,
    ) -> None:
        try:
            self._schedule(kb, question, answer, handoff_requested, handed_off)
        except Exception:
            log.exception("insights: could not schedule a question record")

    def _schedule(
        self, kb: str, question: str, answer: Answer, handoff_requested: bool, handed_off: bool
    ) -> None:
        outcome: TurnOutcomeKind = (
            "handoff_requested"
            if handoff_requested
            else ("declined" if answer.mode == "declined" else "answered")
        )
        cited = [c for c in answer.citations if c.number in answer.cited]
        sources = tuple(dict.fromkeys(c.source_id for c in cited or answer.citations))
        event = QuestionEvent(
            kb=kb,
            at=time.time(),
            question=" ".join(question.split())[:MAX_QUESTION_CHARS],
            outcome=outcome,
            handed_off=handed_off,
            sources=sources if outcome == "answered" else (),
        )
        if len(self._pending) >= MAX_PENDING:
            log.warning("insights: %d writes pending; dropping one", len(self._pending))
            return
        task = asyncio.get_running_loop().create_task(self._write(event))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _write(self, event: QuestionEvent) -> None:
        try:
            await self._store.record(event)
        except Exception as exc:  # noqa: BLE001 - never let a write fail anything else
            log.warning("insights: could not record a question (%s: %s)", type(exc).__name__, exc)

    async def drain(self) -> None:
        """Wait for writes in flight (shutdown, tests)."""
        if self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)
