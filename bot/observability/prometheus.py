"""Prometheus metrics: one `PrometheusMetrics` per process, on its own registry.

Names follow Prometheus conventions (`supportbot_` prefix, `_total` counters, `_seconds`
histograms) and every label takes a bounded set of values: route templates, never raw
paths; error codes, never messages; no KB, user or question text.

Several worker processes (``supportbot serve --workers N``) share one directory of
metric files: set ``SUPPORTBOT_METRICS_MULTIPROC_DIR`` (see `bot.observability.multiprocess`)
and `/metrics` in any worker reports the sum over all of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

from bot.observability.protocol import AnswerResult, DeclineReason, WebhookName
from bot.observability.stages import STAGES

if TYPE_CHECKING:
    from bot.rerank.stage import RerankOutcome, RerankResult


REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
STAGE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)
JOB_BUCKETS = (0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0)
INGEST_RESULTS = ("new", "updated", "unchanged", "deleted", "ignored")
UNMATCHED_ROUTE = "unmatched"
"""The `route` label of requests no route matched (404s), so scanners cannot grow it."""


class PrometheusMetrics:
    """Implements the `Observer` role and the rerank stage's `RerankMetrics`."""

    def __init__(self, multiprocess_dir: Path | None = None) -> None:
        self.multiprocess_dir = multiprocess_dir
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.http_requests = Counter(
            "supportbot_http_requests",
            "HTTP requests by route template, method and status code.",
            ["route", "method", "status"],
            registry=r,
        )
        self.http_duration = Histogram(
            "supportbot_http_request_duration_seconds",
            "Time from request to the last byte of the response.",
            ["route", "method", "status"],
            buckets=REQUEST_BUCKETS,
            registry=r,
        )
        self.stage_duration = Histogram(
            "supportbot_pipeline_stage_duration_seconds",
            "Time in each pipeline stage (condense, embed, bm25, knn, fuse, rerank, generate).",
            ["stage"],
            buckets=STAGE_BUCKETS,
            registry=r,
        )
        self.answers = Counter(
            "supportbot_answers",
            "Chat answers by generator mode and result (answered, declined, degraded).",
            ["mode", "result"],
            registry=r,
        )
        self.declines = Counter(
            "supportbot_declines",
            "Declined questions by reason (no_results, below_threshold, llm_declined, "
            "handoff_requested).",
            ["reason"],
            registry=r,
        )
        self.rerank = Counter(
            "supportbot_rerank",
            "Rerank stage outcomes: applied, skipped, or a fallback to the fused order "
            "(fallback_error, fallback_timeout, breaker_open).",
            ["result"],
            registry=r,
        )
        self.cache = Counter(
            "supportbot_cache_lookups",
            "Cache lookups by cache and result (hit, miss).",
            ["cache", "result"],
            registry=r,
        )
        self.errors = Counter(
            "supportbot_errors",
            "Errors by component (search_backend, llm, webhook) and kind (an error code "
            "or webhook name).",
            ["component", "kind"],
            registry=r,
        )
        self.llm_tokens = Counter(
            "supportbot_llm_tokens",
            "Tokens the LLM billed, by model and type (prompt, completion).",
            ["model", "type"],
            registry=r,
        )
        self.llm_cost = Counter(
            "supportbot_llm_cost_usd",
            "LLM cost in US dollars from litellm's price map (models it knows).",
            ["model"],
            registry=r,
        )
        self.ingest_documents = Counter(
            "supportbot_ingest_documents",
            "Documents seen by ingestion jobs, by result (new, updated, unchanged, deleted, "
            "ignored, failed).",
            ["result"],
            registry=r,
        )
        self.ingest_chunks = Counter(
            "supportbot_ingest_chunks", "Chunks written by ingestion jobs.", registry=r
        )
        self.job_duration = Histogram(
            "supportbot_job_duration_seconds",
            "Background job run time by kind and final status.",
            ["kind", "status"],
            buckets=JOB_BUCKETS,
            registry=r,
        )
        self.jobs = Gauge(
            "supportbot_jobs",
            "Jobs queued or running (the queue depth), read when /metrics is scraped.",
            ["state"],
            multiprocess_mode="mostrecent",
            registry=r,
        )

        # `labels()` costs a lock and a lookup per call: bind each child once.
        self._stages = {key: self.stage_duration.labels(stage) for key, stage in STAGES.items()}
        self._http: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    # --- HTTP edge ---------------------------------------------------------------
    def http_request(self, route: str, method: str, status: int, seconds: float) -> None:
        key = (route, method, status)
        children = self._http.get(key)
        if children is None:
            labels = (route, method, str(status))
            children = self.http_requests.labels(*labels), self.http_duration.labels(*labels)
            self._http[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def backend_error(self, code: str) -> None:
        self.errors.labels("search_backend", code).inc()

    # --- Observer ------------------------------------------------------------------
    def searched(self, kb: str, query: str) -> None:
        return None  # no per-KB or per-query labels: unbounded

    def stage_timings(self, timings_ms: Mapping[str, float]) -> None:
        for key, ms in timings_ms.items():
            child = self._stages.get(key)
            if child is not None:
                child.observe(ms / 1000.0)

    def answer(self, mode: str, result: AnswerResult, decline: DeclineReason | None) -> None:
        self.answers.labels(mode, result).inc()
        if decline is not None:
            self.declines.labels(decline).inc()

    def llm_error(self, kind: str) -> None:
        self.errors.labels("llm", kind).inc()

    def webhook_error(self, webhook: WebhookName) -> None:
        self.errors.labels("webhook", webhook).inc()

    def llm_usage(
        self, model: str, prompt_tokens: int, completion_tokens: int, cost_usd: float | None
    ) -> None:
        self.llm_tokens.labels(model, "prompt").inc(prompt_tokens)
        self.llm_tokens.labels(model, "completion").inc(completion_tokens)
        if cost_usd is not None:
            self.llm_cost.labels(model).inc(cost_usd)

    def job_finished(
        self, kind: str, status: str, seconds: float, result: Mapping[str, object] | None
    ) -> None:
        self.job_duration.labels(kind, status).observe(seconds)
        if result is None:
            return
        for name in INGEST_RESULTS:
            count = result.get(name)
            if isinstance(count, int) and count:
                self.ingest_documents.labels(name).inc(count)
        failed = result.get("failed_count")
        if isinstance(failed, int) and failed:
            self.ingest_documents.labels("failed").inc(failed)
        chunks = result.get("chunks_written")
        if isinstance(chunks, int) and chunks:
            self.ingest_chunks.inc(chunks)

    # --- RerankMetrics -------------------------------------------------------------
    def observe(self, result: RerankResult, outcome: RerankOutcome) -> None:
        self.rerank.labels(result).inc()
        if outcome.cache_hits:
            self.cache.labels("rerank_scores", "hit").inc(outcome.cache_hits)
        if outcome.cache_misses:
            self.cache.labels("rerank_scores", "miss").inc(outcome.cache_misses)

    # --- exposition ----------------------------------------------------------------
    def set_job_counts(self, counts: Mapping[str, int]) -> None:
        for state, count in counts.items():
            self.jobs.labels(state).set(count)

    def render(self) -> tuple[bytes, str]:
        """The text exposition and its content type; across processes when configured."""
        if self.multiprocess_dir is None:
            return generate_latest(self.registry), CONTENT_TYPE_LATEST
        merged = CollectorRegistry()
        MultiProcessCollector(merged, path=str(self.multiprocess_dir))
        return generate_latest(merged), CONTENT_TYPE_LATEST
