"""Insights: the recorder the chat edges call, and the report the admin API and CLI read."""

from __future__ import annotations

import asyncio
from datetime import datetime

from bot.embedding.protocol import Embedder
from bot.insights.protocol import InsightsStore
from bot.insights.recorder import InsightsRecorder
from bot.insights.report import InsightsReport, build_report
from bot.retrieval.protocol import SearchBackend
from bot.widget.feedback_store import FeedbackRecord, JsonlFeedbackStore

FEEDBACK_SCAN = 10_000
"""Most recent feedback votes of a KB read for a report."""


class Insights:
    def __init__(
        self,
        store: InsightsStore,
        feedback: JsonlFeedbackStore,
        embedder: Embedder,
        backend: SearchBackend,
    ) -> None:
        self.store = store
        self.recorder = InsightsRecorder(store)
        self.feedback = feedback
        self._embedder = embedder
        self._backend = backend

    async def report(self, kb: str, since: float, *, top: int = 20) -> InsightsReport:
        """Raise KnowledgeBaseNotFound for an unknown KB, BackendUnavailable when the store
        cannot be read."""
        await self._backend.stats(kb)
        events = await self.store.events(kb, since)
        votes = [v for v in await self.feedback.recent(kb, FEEDBACK_SCAN) if _at(v) >= since]
        return await asyncio.to_thread(
            build_report, kb, since, events, votes, self._embedder, top=top
        )

    async def close(self) -> None:
        await self.recorder.drain()
        await self.store.close()


def _at(vote: FeedbackRecord) -> float:
    try:
        return datetime.fromisoformat(vote.created_at).timestamp()
    except ValueError:
        return 0.0
