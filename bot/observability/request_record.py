"""What one HTTP request did, gathered while it runs, for its log line.

The request middleware opens a `RequestRecord` in a context variable; `RequestRecorder`
(an `Observer`) fills it from the pipeline's reports (KB, stage timings, result, LLM
usage). Tasks started inside the request copy the context, so they fill the same record.
Outside a request (CLI, Celery) there is no record and the recorder does nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field

from bot.observability.protocol import AnswerResult, DeclineReason, WebhookName
from bot.observability.stages import STAGES


@dataclass(slots=True)
class RequestRecord:
    request_id: str
    kb: str | None = None
    query: str | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)
    result: AnswerResult | None = None
    mode: str | None = None
    decline: DeclineReason | None = None
    llm_errors: list[str] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None


current_record: ContextVar[RequestRecord | None] = ContextVar("current_record", default=None)


class RequestRecorder:
    """Implements `Observer` by writing into the current request's record."""

    def searched(self, kb: str, query: str) -> None:
        record = current_record.get()
        if record is not None:
            record.kb, record.query = kb, query

    def stage_timings(self, timings_ms: Mapping[str, float]) -> None:
        record = current_record.get()
        if record is None:
            return
        for key, ms in timings_ms.items():
            stage = STAGES.get(key)
            if stage is not None:
                record.timings_ms[stage] = round(record.timings_ms.get(stage, 0.0) + ms, 2)

    def answer(self, mode: str, result: AnswerResult, decline: DeclineReason | None) -> None:
        record = current_record.get()
        if record is not None:
            record.mode, record.result, record.decline = mode, result, decline

    def llm_error(self, kind: str) -> None:
        record = current_record.get()
        if record is not None:
            record.llm_errors.append(kind)

    def webhook_error(self, webhook: WebhookName) -> None:
        return None

    def llm_usage(
        self, model: str, prompt_tokens: int, completion_tokens: int, cost_usd: float | None
    ) -> None:
        record = current_record.get()
        if record is None:
            return
        record.prompt_tokens += prompt_tokens
        record.completion_tokens += completion_tokens
        if cost_usd is not None:
            record.cost_usd = (record.cost_usd or 0.0) + cost_usd

    def job_finished(
        self, kind: str, status: str, seconds: float, result: Mapping[str, object] | None
    ) -> None:
        return None
