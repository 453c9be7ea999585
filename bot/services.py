"""The composition root: the one place that maps settings to concrete backends.

The API lifespan, the CLI and the workers call `build_services(settings)`; nothing
else chooses an implementation, and nothing is built at import time.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from bot.cache.protocol import ScoreCache
from bot.embedding.sentence_transformer import SentenceTransformerEmbedder
from bot.errors import ConfigurationError
from bot.generation.extractive import ExtractiveGenerator
from bot.generation.protocol import Generator
from bot.pipeline import PipelineParams, SupportPipeline
from bot.rerank.protocol import Reranker, TokenVectorSink
from bot.rerank.stage import RerankStage
from bot.retrieval.hybrid import HybridRetriever, RetrievalParams
from bot.retrieval.protocol import SearchBackend
from bot.settings import Settings
from ingestion.chunking import Chunker
from ingestion.ingest import Ingestor

log = logging.getLogger(__name__)


@dataclass
class ComponentState:
    """One line of /readyz: which implementation, and whether it is degraded."""

    name: str
    ok: bool = True
    detail: str | None = None


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
    components: dict[str, ComponentState] = field(default_factory=dict)

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
        return {"ready": backend_ok, "components": body}

    async def aclose(self) -> None:
        await self.backend.close()
        await self.cache.close()


def build_backend(settings: Settings) -> SearchBackend:
    if settings.search_backend == "elasticsearch":
        if not settings.elasticsearch_url:
            raise ConfigurationError(
                "SUPPORTBOT_SEARCH_BACKEND=elasticsearch needs SUPPORTBOT_ELASTICSEARCH_URL"
            )
        from bot.retrieval.elasticsearch_search import ElasticsearchSearch

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
            title_boost=settings.bm25_boost_title,
            headings_boost=settings.bm25_boost_headings,
            body_boost=settings.bm25_boost_body,
        )
    from bot.retrieval.embedded_search import EmbeddedSearch

    return EmbeddedSearch(
        settings.data_dir,
        title_weight=settings.bm25_boost_title,
        headings_weight=settings.bm25_boost_headings,
        body_weight=settings.bm25_boost_body,
    )


def build_cache(settings: Settings) -> ScoreCache:
    from bot.cache.memory import InMemoryScoreCache

    return InMemoryScoreCache()


@dataclass
class RerankerChoice:
    reranker: Reranker | None
    state: ComponentState
    token_sink: TokenVectorSink | None = None
    """Set when the reranker wants token vectors stored at ingestion time."""


def _late_interaction(
    settings: Settings, embedder: SentenceTransformerEmbedder, state: ComponentState | None = None
) -> RerankerChoice:
    from bot.rerank.late_interaction import LateInteractionReranker
    from bot.rerank.token_store import SqliteTokenVectorStore

    store = SqliteTokenVectorStore(settings.data_dir / "token_vectors.sqlite")
    reranker = LateInteractionReranker(embedder, store)
    return RerankerChoice(reranker, state or ComponentState(reranker.name), store)


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
        from bot.rerank.cross_encoder import CrossEncoderReranker

        reranker = CrossEncoderReranker(
            settings.reranker_model, max_length=settings.reranker_max_length
        )
        if warm:
            try:
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
    return RerankerChoice(reranker, ComponentState(reranker.name))


def build_generator(settings: Settings) -> tuple[Generator, ComponentState]:
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
        max_tokens=settings.llm_max_tokens,
        temperature=settings.llm_temperature,
    )
    return generator, ComponentState(generator.name)


def build_services(settings: Settings, *, warm: bool = True) -> Services:
    """Wire every component from settings. `warm` loads model weights now (seconds)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    embedder = SentenceTransformerEmbedder(
        settings.embedding_model, batch_size=settings.embedding_batch_size
    )
    if warm:
        embedder.warm_up()
    backend = build_backend(settings)
    cache = build_cache(settings)
    choice = build_reranker(settings, embedder, warm=warm)
    rerank_stage = RerankStage(
        choice.reranker,
        cache,
        timeout_s=settings.reranker_timeout_s,
        cache_ttl_s=settings.reranker_cache_ttl_s,
    )
    generator, generator_state = build_generator(settings)
    retriever = HybridRetriever(backend, embedder, RetrievalParams.from_settings(settings))
    pipeline = SupportPipeline(
        backend,
        retriever,
        rerank_stage,
        generator,
        ExtractiveGenerator(),
        PipelineParams.from_settings(settings),
    )
    ingestor = Ingestor(
        backend,
        embedder,
        Chunker.from_settings(settings, embedder),
        batch_size=settings.embedding_batch_size,
        token_sink=choice.token_sink,
    )
    return Services(
        settings=settings,
        backend=backend,
        embedder=embedder,
        cache=cache,
        rerank_stage=rerank_stage,
        generator=generator,
        pipeline=pipeline,
        ingestor=ingestor,
        components={
            "embedder": ComponentState(embedder.model_id),
            "reranker": choice.state,
            "generator": generator_state,
            "cache": ComponentState(cache.name),
        },
    )
