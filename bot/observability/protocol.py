"""What the pipeline and its neighbours report, and to whom: the `Observer` role.

The pipeline, rerank stage, turns, helpdesk plumbing and jobs call these methods; they
never import prometheus_client. `NoObserver` is the default where nothing is wired
(CLI tools, unit tests); `PrometheusMetrics` is the one built by `bot.services`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, Protocol

AnswerResult = Literal["answered", "declined", "degraded"]
DeclineReason = Literal["no_results", "below_threshold", "llm_declined", "handoff_requested"]
WebhookName = Literal["handoff", "callback", "zendesk"]


class Observer(Protocol):
    def searched(self, kb: str, query: str) -> None:
        """A search ran on `kb` for `query` (normalised; for a follow-up, condensed)."""
        ...

    def stage_timings(self, timings_ms: Mapping[str, float]) -> None:
        """Per-stage durations of one request, keyed as the pipeline's `timings_ms`."""
        ...

    def answer(self, mode: str, result: AnswerResult, decline: DeclineReason | None) -> None: ...

    def llm_error(self, kind: str) -> None:
        """`kind`: the GenerationError's stable code, or `condense` for a failed rewrite."""
        ...

    def webhook_error(self, webhook: WebhookName) -> None: ...

    def llm_usage(
        self, model: str, prompt_tokens: int, completion_tokens: int, cost_usd: float | None
    ) -> None: ...

    def job_finished(
        self, kind: str, status: str, seconds: float, result: Mapping[str, object] | None
    ) -> None:
        """A background job ended; an ingest-like `result` carries document/chunk counts."""
        ...


class NoObserver:
    """Reports nowhere: the default for code built without `bot.services`."""

    def searched(self, kb: str, query: str) -> None:
        return None

    def stage_timings(self, timings_ms: Mapping[str, float]) -> None:
        return None

    def answer(self, mode: str, result: AnswerResult, decline: DeclineReason | None) -> None:
        return None

    def llm_error(self, kind: str) -> None:
        return None

    def webhook_error(self, webhook: WebhookName) -> None:
        return None

    def llm_usage(
        self, model: str, prompt_tokens: int, completion_tokens: int, cost_usd: float | None
    ) -> None:
        return None

    def job_finished(
        self, kind: str, status: str, seconds: float, result: Mapping[str, object] | None
    ) -> None:
        return None


class FanOut:
    """Reports to several observers in turn (metrics, the request's log record, ...)."""

    def __init__(self, *observers: Observer) -> None:
        self._observers = observers

    def searched(self, kb: str, query: str) -> None:
        for observer in self._observers:
            observer.searched(kb, query)

    def stage_timings(self, timings_ms: Mapping[str, float]) -> None:
        for observer in self._observers:
            observer.stage_timings(timings_ms)

    def answer(self, mode: str, result: AnswerResult, decline: DeclineReason | None) -> None:
        for observer in self._observers:
            observer.answer(mode, result, decline)

    def llm_error(self, kind: str) -> None:
        for observer in self._observers:
            observer.llm_error(kind)

    def webhook_error(self, webhook: WebhookName) -> None:
        for observer in self._observers:
            observer.webhook_error(webhook)

    def llm_usage(
        self, model: str, prompt_tokens: int, completion_tokens: int, cost_usd: float | None
    ) -> None:
        for observer in self._observers:
            observer.llm_usage(model, prompt_tokens, completion_tokens, cost_usd)

    def job_finished(
        self, kind: str, status: str, seconds: float, result: Mapping[str, object] | None
    ) -> None:
        for observer in self._observers:
            observer.job_finished(kind, status, seconds, result)


NO_OBSERVER = NoObserver()
