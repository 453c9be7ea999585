"""What the pipeline and its neighbours report, and to whom: the `Observer` role.

The pipeline, rerank stage, turns, helpdesk plumbing and jobs call these methods; they
never import prometheus_client. `NoObserver` is the default where nothing is wired
(CLI tools, unit tests); `PrometheusMetrics` is the one built by `bot.services`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, Protocol

AnswerResult = Literal["answered", "declined", "degraded"]
DeclineReason = Literal["no_results", "below_threshold", "handoff_requested"]
WebhookName = Literal["handoff", "callback", "zendesk"]


class Observer(Protocol):
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


NO_OBSERVER = NoObserver()
