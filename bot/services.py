"""The composition root: the one place that maps settings to concrete backends.

The API lifespan, the CLI and the workers call `build_services(settings)`; nothing
else chooses an implementation, and nothing is built at import time.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, cast

from bot.answerability.defaults import default_model
from bot.answerability.estimator import AnswerabilityEstimator, TokenEvidence
from bot.answerability.store import FileCalibrationStore
from bot.cache.conversations import ConversationStore
from bot.cache.protocol import ScoreCache
from bot.cache.rate_limit import RateLimiter
from bot.cache.redis_guard import RedisGuard
from bot.embedding.quantized import ReducedPrecisionEmbedder
from bot.embedding.sentence_transformer import SentenceTransformerEmbedder
from bot.errors import ConfigurationError
from bot.generation.extractive import ExtractiveGenerator
from bot.generation.protocol import Generator
from bot.helpdesk.idempotency import IdempotencyStore
from bot.inference.devices import limit_blas_threads
from bot.insights.protocol import InsightsStore
from bot.insights.service import Insights
from bot.jobs.protocol import JobResult, JobRunner, JobSpec, ProgressSink
from bot.jobs.work import JobContext, run_job
from bot.observability.protocol import NO_OBSERVER, FanOut, Observer
from bot.observability.request_record import RequestRecorder
from bot.pipeline import PipelineParams, SupportPipeline
from bot.rerank.circuit_breaker import CircuitBreaker
from bot.rerank.model_source import unreachable_reason
from bot.rerank.protocol import Reranker, TokenVectorSink
from bot.rerank.stage import RerankBlend, RerankStage
from bot.retrieval.followup import AsTyped, HeuristicCondenser, LLMCondenser, QueryCondenser
from bot.retrieval.hybrid import HybridRetriever, RetrievalParams
from bot.retrieval.protocol import SearchBackend
from bot.security.keystore import KeyStore
from bot.settings import Settings
from bot.sources.connected import ConnectedSources
from bot.sources.registry import SourceRegistry
from bot.sources.secrets import SecretStore
from bot.sources.sync import SyncEngine, SyncParams
from bot.widget.feedback_store import JsonlFeedbackStore
from ingestion.chunking import Chunker
from ingestion.ingest import Ingestor

if TYPE_CHECKING:
    import httpx
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Tracer

    from bot.helpdesk.handoff import HandoffNotifier
    from bot.helpdesk.turns import ConversationTurns
    from bot.helpdesk.zendesk_flow import ZendeskResponder
    from bot.observability.prometheus import PrometheusMetrics

log = logging.getLogger(__name__)


@dataclass
class ComponentState:
    """One line of /readyz: which implementation, and whether it is degraded."""

    name: str
    ok: bool = True
    detail: str | None = None


@dataclass
class EdgeServices:
    """Keys, limits and helpdesk plumbing at the API edge (security, helpdesk, widget)."""

    keystore: KeyStore
    rate_limiter: RateLimiter
    idempotency: IdempotencyStore
    feedback: JsonlFeedbackStore
    handoff: HandoffNotifier
    turns: ConversationTurns
    zendesk: ZendeskResponder
    http: httpx.AsyncClient
    """Outbound calls: Zendesk API, generic-webhook callbacks, the handoff webhook."""

    async def aclose(self) -> None:
        await self.http.aclose()
        await self.rate_limiter.close()
        await self.idempotency.close()


@dataclass
class Services:
    settings: Settings
    backend: SearchBackend
    embedder: SentenceTransformerEmbedder
    cache: ScoreCache
    rerank_stage: RerankStage
    generator: Generator
    pipeline: SupportPipeline
    ingestor: Ingestor
    make_edge: Callable[[], EdgeServices]
    """Builds `edge`; the stores it is given are `rate_limiter` and `idempotency`."""
    rate_limiter: RateLimiter
    idempotency: IdempotencyStore
    conversations: ConversationStore
    sources: SourceRegistry
    connected: ConnectedSources
    secrets: SecretStore
    sync: SyncEngine
    jobs: JobRunner
    components: dict[str, ComponentState] = field(default_factory=dict)
    redis: Any = None
    """The shared redis.asyncio client when SUPPORTBOT_REDIS_URL is set; closed last."""
    redis_guard: RedisGuard | None = None
    metrics: PrometheusMetrics | None = None
    """Prometheus metrics for GET /metrics; None when SUPPORTBOT_METRICS_ENABLED=false."""
    observer: Observer = NO_OBSERVER
    """Where the pipeline, stages and jobs report (the metrics, when enabled)."""
    insights: Insights | None = None
    tracer_provider: TracerProvider | None = None
    """Set when tracing is on (SUPPORTBOT_OTLP_ENDPOINT); the app instruments with it."""
    _edge: EdgeServices | None = field(default=None, init=False, repr=False)
    _edge_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @property
    def edge(self) -> EdgeServices:
        """Keys, limits and helpdesk clients, built at the first use: the API builds them
        at its start, a CLI command or a worker never does (httpx's client with its TLS
        context is ~0.1 s of CPU a start)."""
        if self._edge is None:
            with self._edge_lock:  # sync FastAPI dependencies run on several threads
                if self._edge is None:
                    self._edge = self.make_edge()
        return self._edge

    @property
    def tracer(self) -> Tracer | None:
        from bot.observability.tracing import TRACER_NAME

        provider = self.tracer_provider
        return provider.get_tracer(TRACER_NAME) if provider is not None else None

    def job_context(self) -> JobContext:
        return JobContext(
            self.backend, self.ingestor, self.sources, self.sync, self.connected, self.observer
        )

    async def readiness(self) -> dict[str, Any]:
        """State of every component; `ready` is false only when search cannot work."""
        backend_ok = await self.backend.ping()
        states = dict(self.components)
        states["search_backend"] = ComponentState(
            self.backend.name, backend_ok, None if backend_ok else "search backend unreachable"
        )
        body: dict[str, Any] = {
            name: {"name": s.name, "ok": s.ok, "detail": s.detail} for name, s in states.items()
        }
        body["reranker"]["stage"] = self.rerank_stage.status()
        body["answerability"] = {
            "name": "answerability",
            "ok": True,
            "detail": None,
            "default": self.pipeline.answerability.describe(),
            "kbs": {
                kb: self.pipeline.answerability.describe(kb)
                for kb in (await self.backend.list_kbs() if backend_ok else [])
            },
        }
        if self.redis_guard is not None:
            guard = self.redis_guard
            body["redis"] = {"name": "redis", "ok": guard.healthy(), "detail": guard.last_error}
            body["redis"].update(guard.stats())
        return {"ready": backend_ok, "components": body}

    async def aclose(self) -> None:
        await self.jobs.close()
        await self.backend.close()
        await self.cache.close()
        await self.conversations.close()
        if self.insights is not None:
            await self.insights.close()
        if self._edge is not None:
            await self._edge.aclose()  # the stores too
        else:
            await self.rate_limiter.close()
            await self.idempotency.close()
        if self.redis is not None:
            await self.redis.aclose(close_connection_pool=True)
        if self.tracer_provider is not None:
            self.tracer_provider.shutdown()  # flushes spans still batched


def build_backend(settings: Settings) -> SearchBackend:
    if settings.search_backend == "elasticsearch":
        if not settings.elasticsearch_url:
            raise ConfigurationError(
                "SUPPORTBOT_SEARCH_BACKEND=elasticsearch needs SUPPORTBOT_ELASTICSEARCH_URL"
            )
        from bot.retrieval.elasticsearch.search import ElasticsearchSearch

        return ElasticsearchSearch(
            settings.elasticsearch_url,
            api_key=(
                settings.elasticsearch_api_key.get_secret_value()
                if settings.elasticsearch_api_key
                else None
            ),
            index_prefix=settings.elasticsearch_index_prefix,
            timeout_s=settings.elasticsearch_timeout_s,
            replicas=settings.elasticsearch_replicas,
            chunk_cache_max_chunks=settings.elasticsearch_chunk_cache_max_chunks,
            title_boost=settings.bm25_boost_title,
            headings_boost=settings.bm25_boost_headings,
            body_boost=settings.bm25_boost_body,
        )
    from bot.retrieval.embedded.search import EmbeddedSearch

    return EmbeddedSearch(
        settings.data_dir,
        title_weight=settings.bm25_boost_title,
        headings_weight=settings.bm25_boost_headings,
        body_weight=settings.bm25_boost_body,
    )


@dataclass
class Stores:
    """Score cache, conversations, rate limits, idempotency: in Redis when it is set; else
    the score cache in process and the rest in SQLite in the data dir, so every API
    process (`serve --workers N`) agrees on them."""

    cache: ScoreCache
    conversations: ConversationStore
    rate_limiter: RateLimiter
    idempotency: IdempotencyStore
    insights: InsightsStore
    redis: Any = None
    guard: RedisGuard | None = None


def build_stores(settings: Settings) -> Stores:
    """One pooled Redis client and one outage guard, shared by every store."""
    if not settings.redis_url:
        from bot.cache.memory import InMemoryScoreCache
        from bot.cache.sqlite_conversations import SqliteConversationStore
        from bot.cache.sqlite_rate_limit import SqliteRateLimiter
        from bot.cache.sqlite_state import STATE_FILENAME
        from bot.helpdesk.sqlite_idempotency import SqliteIdempotencyStore
        from bot.insights.sqlite_store import SqliteInsightsStore

        state = settings.data_dir / STATE_FILENAME
        return Stores(
            InMemoryScoreCache(settings.score_cache_max_entries),
            SqliteConversationStore(
                state, max_turns=settings.conversation_max_turns, ttl_s=settings.conversation_ttl_s
            ),
            SqliteRateLimiter(state),
            SqliteIdempotencyStore(state),
            SqliteInsightsStore(
                settings.data_dir / "insights.sqlite", retention_s=settings.insights_retention_s
            ),
        )
    from bot.cache.conversations import RedisConversationStore
    from bot.cache.rate_limit import RedisRateLimiter
    from bot.cache.redis_cache import RedisScoreCache
    from bot.cache.redis_client import make_redis_client
    from bot.helpdesk.idempotency import RedisIdempotencyStore
    from bot.insights.redis_store import RedisInsightsStore

    client = make_redis_client(
        settings.redis_url,
        timeout_s=settings.redis_timeout_s,
        max_connections=settings.redis_max_connections,
    )
    guard = RedisGuard("redis", cooldown_s=settings.redis_cooldown_s)
    return Stores(
        RedisScoreCache(client, guard=guard),
        RedisConversationStore(
            client,
            guard=guard,
            max_turns=settings.conversation_max_turns,
            ttl_s=settings.conversation_ttl_s,
        ),
        RedisRateLimiter(client, guard=guard),
        RedisIdempotencyStore(client, guard=guard),
        RedisInsightsStore(client, guard=guard, retention_s=settings.insights_retention_s),
        client,
        guard,
    )


def build_sync_engine(
    settings: Settings, ingestor: Ingestor, connected: ConnectedSources, secrets: SecretStore
) -> SyncEngine:
    params = SyncParams(
        work_root=settings.data_dir / "source-work",
        user_agent=settings.source_user_agent,
        timeout_s=settings.outbound_timeout_s,
        min_listing_ratio=settings.source_min_listing_ratio,
    )
    # Secrets given by variable name are read from this process's environment at sync time.
    return SyncEngine(ingestor, connected, secrets, params, os.environ)


def build_job_runner(settings: Settings, context: JobContext) -> JobRunner:
    """Celery workers when a broker is set; else, with several API workers, one of them at
    a time runs the jobs they share in the data dir; else asyncio tasks in this process."""
    if settings.celery_broker_url:
        from bot.jobs.celery_runner import CeleryJobRunner
        from bot.jobs.celery_submitter import submitting_app
        from bot.jobs.records import RedisJobRecords

        records = RedisJobRecords.from_url(
            settings.redis_url or settings.celery_broker_url,
            timeout_s=settings.job_store_timeout_s,
            retention_s=settings.job_retention_s,
        )
        return CeleryJobRunner(submitting_app(settings), records)

    def execute(spec: JobSpec, progress: ProgressSink) -> Awaitable[JobResult]:
        return run_job(spec, context, progress)

    if settings.workers > 1:
        from bot.cache.sqlite_state import STATE_FILENAME
        from bot.jobs.leader_lock import JOB_RUNNER_LOCK, LeaderLock
        from bot.jobs.sqlite_runner import SqliteJobRunner
        from bot.jobs.sqlite_store import SqliteJobStore

        store = SqliteJobStore(
            settings.data_dir / STATE_FILENAME, retention_s=settings.job_retention_s
        )
        lock = LeaderLock(settings.data_dir / JOB_RUNNER_LOCK)
        return SqliteJobRunner(execute, store, lock, poll_s=settings.job_poll_s)
    from bot.jobs.inprocess import InProcessJobRunner

    return InProcessJobRunner(execute)


@dataclass
class RerankerChoice:
    reranker: Reranker | None
    state: ComponentState
    token_sink: TokenVectorSink | None = None
    """Set when the reranker wants token vectors stored at ingestion time."""
    kind: str = "none"
    """The kind in use after any fallback; picks the calibrated no-answer threshold."""


def _late_interaction(
    settings: Settings, embedder: SentenceTransformerEmbedder, state: ComponentState | None = None
) -> RerankerChoice:
    from bot.rerank.late_interaction import LateInteractionReranker
    from bot.rerank.parallel_maxsim import TwoThreadMaxSim
    from bot.rerank.token_cache import CachedTokenVectorStore
    from bot.rerank.token_store import SqliteTokenVectorStore, TokenVectorStore

    sqlite_store = SqliteTokenVectorStore(settings.data_dir / "token_vectors.sqlite")
    store: TokenVectorStore = sqlite_store
    if settings.token_cache_mb > 0:
        store = CachedTokenVectorStore(sqlite_store, settings.token_cache_mb * 1024 * 1024)
    reranker = LateInteractionReranker(
        embedder, store, maxsim=TwoThreadMaxSim(settings.late_interaction_busy_load)
    )
    return RerankerChoice(
        reranker, state or ComponentState(reranker.name), store, kind="late-interaction"
    )


def build_reranker(
    settings: Settings, embedder: SentenceTransformerEmbedder, *, warm: bool
) -> RerankerChoice:
    """The configured reranker; a cross-encoder that cannot load falls back to late interaction."""
    kind = settings.reranker
    reranker: Reranker
    if kind == "none":
        return RerankerChoice(None, ComponentState("none", True, "disabled by configuration"))
    if kind == "late-interaction":
        return _late_interaction(settings, embedder)
    if kind == "cohere":
        if settings.cohere_api_key is None:
            raise ConfigurationError("SUPPORTBOT_RERANKER=cohere needs SUPPORTBOT_COHERE_API_KEY")
        from bot.rerank.cohere_rerank import CohereReranker

        reranker = CohereReranker(
            settings.cohere_api_key.get_secret_value(),
            settings.cohere_model,
            base_url=settings.cohere_base_url,
            timeout_s=settings.reranker_timeout_s,
        )
    else:
        from bot.rerank.quantized_cross_encoder import QuantizedCrossEncoderReranker

        reranker = QuantizedCrossEncoderReranker(
            settings.reranker_model,
            max_length=settings.reranker_max_length,
            precision=settings.reranker_precision,
            runtime=settings.reranker_runtime,
            cache_dir=settings.model_cache_path,
        )
        if warm:
            try:
                reason = unreachable_reason(settings.reranker_model)
                if reason:
                    raise ConfigurationError(f"model {settings.reranker_model!r}: {reason}")
                reranker.warm_up()
            except ConfigurationError as exc:
                log.warning(
                    "cross-encoder %r could not be loaded (%s); reranking with late interaction "
                    "over the embedding model instead",
                    settings.reranker_model,
                    exc,
                )
                return _late_interaction(
                    settings,
                    embedder,
                    ComponentState(
                        "late-interaction",
                        False,
                        f"cross-encoder {settings.reranker_model!r} unavailable ({exc.message}); "
                        "using the late-interaction fallback",
                    ),
                )
    if warm:
        reranker.warm_up()
    return RerankerChoice(reranker, ComponentState(reranker.name), kind=kind)


def build_observer(settings: Settings, metrics: PrometheusMetrics | None) -> Observer:
    """Metrics and/or the per-request log record, or nothing."""
    observers: list[Observer] = [metrics] if metrics is not None else []
    if settings.request_log:
        observers.append(RequestRecorder())
    if not observers:
        return NO_OBSERVER
    return observers[0] if len(observers) == 1 else FanOut(*observers)


def build_answerability(settings: Settings, choice: RerankerChoice) -> AnswerabilityEstimator:
    """The KB's calibration or the default for the reranker in use; token evidence from
    late interaction when that is the reranker."""
    scored_by = settings.scored_by(choice.kind)
    tokens = choice.reranker if hasattr(choice.reranker, "content_token_matches") else None
    return AnswerabilityEstimator(
        scored_by=scored_by,
        default=default_model(scored_by),
        store=FileCalibrationStore(settings.calibration_dir),
        token_evidence=cast("TokenEvidence | None", tokens),
        fixed_threshold=settings.answerable_threshold,
    )


def build_generator(
    settings: Settings, *, warm: bool = True, observer: Observer = NO_OBSERVER
) -> tuple[Generator, ComponentState]:
    if not settings.llm_model:
        return ExtractiveGenerator(), ComponentState(
            "extractive", True, "no LLM configured (SUPPORTBOT_LLM_MODEL); extractive answers"
        )
    from bot.generation.litellm_generator import LiteLLMGenerator

    generator = LiteLLMGenerator(
        settings.llm_model,
        api_key=settings.llm_api_key.get_secret_value() if settings.llm_api_key else None,
        base_url=settings.llm_base_url,
        timeout_s=settings.llm_timeout_s,
        deadline_s=settings.llm_deadline_s,
        max_tokens=settings.llm_max_tokens,
        temperature=settings.llm_temperature,
        observer=observer,
        decline_signal=settings.llm_decline_signal,
    )
    if warm:
        generator.warm_up()  # the slow litellm import, and a bad model string fails now
    return generator, ComponentState(generator.name)


def build_condenser(settings: Settings) -> QueryCondenser:
    """Follow-ups: the LLM's rewrite (heuristic fallback) when an LLM is set, else the heuristic."""
    if not settings.condense_followups:
        return AsTyped()
    heuristic = HeuristicCondenser(max_chars=settings.max_query_chars)
    if not settings.llm_model:
        return heuristic
    return LLMCondenser(
        settings.llm_model,
        heuristic,
        api_key=settings.llm_api_key.get_secret_value() if settings.llm_api_key else None,
        base_url=settings.llm_base_url,
        timeout_s=settings.condense_timeout_s,
    )


def build_metrics(settings: Settings) -> PrometheusMetrics | None:
    """Prometheus metrics on a registry of their own (so several apps in one test process
    never clash), shared across worker processes when `metrics_multiproc_dir` is set."""
    if not settings.metrics_enabled:
        return None
    from bot.observability.prometheus import PrometheusMetrics

    return PrometheusMetrics(settings.metrics_multiproc_dir)


def build_edge(
    settings: Settings,
    pipeline: SupportPipeline,
    backend: SearchBackend,
    *,
    rate_limiter: RateLimiter,
    idempotency: IdempotencyStore,
    observer: Observer = NO_OBSERVER,
    insights: Insights | None = None,
) -> EdgeServices:
    """Keys, limits, feedback and helpdesk clients; the stores come from `build_stores`."""
    # Imported here, like the edge is built on first use (`Services.edge`): httpx and the
    # helpdesk clients serve the API only, not a CLI command or a worker.
    import httpx

    from bot.helpdesk.handoff import HandoffNotifier
    from bot.helpdesk.turns import ConversationTurns
    from bot.helpdesk.zendesk_flow import ZendeskResponder

    http = httpx.AsyncClient(timeout=settings.outbound_timeout_s, follow_redirects=False)
    handoff = HandoffNotifier(
        http,
        settings.handoff_webhook_url,
        settings.handoff_webhook_secret.get_secret_value()
        if settings.handoff_webhook_secret
        else None,
        observer=observer,
    )
    turns = ConversationTurns(
        pipeline, backend, handoff, observer, insights.recorder if insights else None
    )
    return EdgeServices(
        keystore=KeyStore(settings.keys_path),
        rate_limiter=rate_limiter,
        idempotency=idempotency,
        feedback=insights.feedback if insights else feedback_store(settings),
        handoff=handoff,
        turns=turns,
        zendesk=ZendeskResponder(
            turns,
            idempotency,
            http,
            retention_s=settings.webhook_idempotency_ttl_s,
            max_question_chars=settings.max_query_chars,
            observer=observer,
        ),
        http=http,
    )


def feedback_store(settings: Settings) -> JsonlFeedbackStore:
    return JsonlFeedbackStore(settings.data_dir / "feedback.jsonl")


def build_services(
    settings: Settings, *, warm: bool = True, tracer_provider: TracerProvider | None = None
) -> Services:
    """Wire every component from settings. `warm` loads model weights now (seconds).

    `tracer_provider`: one already built (the app needs it before its services, tests pass
    one with an in-memory exporter); by default built from settings (None: tracing off)."""
    from bot.observability.tracing import TRACER_NAME, build_tracer_provider

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    tracer_provider = tracer_provider or build_tracer_provider(settings)
    tracer = tracer_provider.get_tracer(TRACER_NAME) if tracer_provider is not None else None
    metrics = build_metrics(settings)
    observer = build_observer(settings, metrics)
    limit_blas_threads(settings.blas_threads)
    embedder = ReducedPrecisionEmbedder(
        settings.embedding_model,
        batch_size=settings.embedding_batch_size,
        precision=settings.embedding_precision,
        runtime=settings.embedding_runtime,
        cache_dir=settings.model_cache_path,
        query_threads=settings.embedding_query_threads,
        query_busy_load=settings.embedding_query_busy_load,
    )
    if warm:
        embedder.warm_up()
    backend = build_backend(settings)
    stores = build_stores(settings)
    cache = stores.cache
    choice = build_reranker(settings, embedder, warm=warm)
    rerank_stage = RerankStage(
        choice.reranker,
        cache,
        timeout_s=settings.reranker_timeout_s,
        cache_ttl_s=settings.reranker_cache_ttl_s,
        breaker=CircuitBreaker(failure_threshold=5, reset_after_s=30.0),
        blend=RerankBlend(
            settings.rerank_weight,
            settings.rerank_blend,
            settings.rrf_k,
            settings.rerank_document_evidence,
        ),
        # One worker: requests queue behind each other, and queued work whose deadline
        # has passed is skipped instead of piling up on a saturated CPU.
        executor=ThreadPoolExecutor(max_workers=1, thread_name_prefix="rerank"),
        metrics=metrics,
    )
    generator, generator_state = build_generator(settings, warm=warm, observer=observer)
    retriever = HybridRetriever(
        backend, embedder, RetrievalParams.from_settings(settings), tracer=tracer
    )
    pipeline = SupportPipeline(
        backend,
        retriever,
        rerank_stage,
        generator,
        ExtractiveGenerator(as_fallback=True),
        condenser := build_condenser(settings),
        PipelineParams.from_settings(settings),
        build_answerability(settings, choice),
        observer,
        tracer,
    )
    ingestor = Ingestor(
        backend,
        embedder,
        Chunker.from_settings(settings, embedder),
        batch_size=settings.embedding_batch_size,
        token_sink=choice.token_sink,
        ignore=settings.ingest_ignore,
    )
    insights = Insights(stores.insights, feedback_store(settings), embedder, backend)
    sources = SourceRegistry(settings.data_dir / "sources.sqlite")
    connected = ConnectedSources(settings.data_dir / "sources.sqlite")
    secrets = SecretStore(settings.data_dir / "secrets")
    sync = build_sync_engine(settings, ingestor, connected, secrets)
    context = JobContext(backend, ingestor, sources, sync, connected, observer)
    jobs = build_job_runner(settings, context)
    return Services(
        settings=settings,
        backend=backend,
        embedder=embedder,
        cache=cache,
        rerank_stage=rerank_stage,
        generator=generator,
        pipeline=pipeline,
        ingestor=ingestor,
        make_edge=partial(
            build_edge,
            settings,
            pipeline,
            backend,
            rate_limiter=stores.rate_limiter,
            idempotency=stores.idempotency,
            observer=observer,
            insights=insights,
        ),
        rate_limiter=stores.rate_limiter,
        idempotency=stores.idempotency,
        conversations=stores.conversations,
        sources=sources,
        connected=connected,
        secrets=secrets,
        sync=sync,
        jobs=jobs,
        components={
            "embedder": ComponentState(embedder.model_id),
            "reranker": choice.state,
            "generator": generator_state,
            "condenser": ComponentState(condenser.name),
            "cache": ComponentState(cache.name),
            "jobs": ComponentState(jobs.name),
        },
        redis=stores.redis,
        redis_guard=stores.guard,
        metrics=metrics,
        observer=observer,
        tracer_provider=tracer_provider,
        insights=insights,
    )
