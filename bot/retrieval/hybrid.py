"""Hybrid retrieval: BM25 and dense kNN side by side, fused (RRF or normalised scores).

The two retrievers fail differently on customer questions (BM25 misses synonyms and
symptoms, dense misses exact feature names and error strings), so both run, at the same
time: BM25 in the backend while the query embeds in a worker thread and then goes to kNN.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Literal, TypeVar

from opentelemetry.trace import Tracer

from bot.domain import Candidate, Hit
from bot.embedding.protocol import Embedder
from bot.errors import ConfigurationError, InvalidRequest
from bot.observability.tracing import stage_span
from bot.retrieval.fusion import FUSION_METHODS, FusionMethod, fuse_hits
from bot.retrieval.protocol import SearchBackend
from bot.settings import Settings

RetrievalMode = Literal["bm25", "dense", "hybrid"]
RETRIEVAL_MODES: tuple[RetrievalMode, ...] = ("bm25", "dense", "hybrid")

T = TypeVar("T")


@dataclass(frozen=True)
class RetrievalParams:
    """How many candidates to fuse, how (see bot/retrieval/fusion.py), and each list's weight.

    These defaults are plain RRF; the shipped ones come from `Settings` (`from_settings`).
    """

    candidates: int = 50
    rrf_k: int = 60
    weight_bm25: float = 1.0
    weight_dense: float = 1.0
    fusion: FusionMethod = "rrf"
    depth: int = 50
    """Hits each retriever contributes before fusion (the fused list keeps `candidates`)."""

    def __post_init__(self) -> None:
        if self.depth < 1:
            raise ConfigurationError(f"depth must be >= 1, got {self.depth}")
        if self.candidates < 1:
            raise ConfigurationError(f"candidates must be >= 1, got {self.candidates}")
        if self.rrf_k < 0:
            raise ConfigurationError(f"rrf_k must be >= 0, got {self.rrf_k}")
        if min(self.weight_bm25, self.weight_dense) < 0:
            raise ConfigurationError("RRF weights must be >= 0")
        if self.weight_bm25 == self.weight_dense == 0:
            raise ConfigurationError("at least one of the fusion weights must be above 0")
        if self.fusion not in FUSION_METHODS:
            raise ConfigurationError(f"fusion must be one of {FUSION_METHODS}, got {self.fusion!r}")

    @classmethod
    def from_settings(cls, settings: Settings) -> RetrievalParams:
        return cls(
            candidates=settings.candidates,
            rrf_k=settings.rrf_k,
            weight_bm25=settings.fusion_weight_bm25,
            weight_dense=settings.fusion_weight_dense,
            fusion=settings.fusion,
            depth=settings.retriever_depth,
        )


@dataclass
class Retrieved:
    """Fused candidates, best first, and how long each step took."""

    candidates: list[Candidate]
    timings_ms: dict[str, float] = field(default_factory=dict)


class HybridRetriever:
    def __init__(
        self,
        backend: SearchBackend,
        embedder: Embedder,
        params: RetrievalParams,
        tracer: Tracer | None = None,
    ) -> None:
        self._backend = backend
        self._embedder = embedder
        self._params = params
        self._tracer = tracer

    async def retrieve(
        self, kb: str, query: str, mode: RetrievalMode = "hybrid", limit: int | None = None
    ) -> Retrieved:
        """Top candidates for `query` in `kb`; `limit` defaults to `params.candidates`.

        Single modes return that retriever's order, scored with its fusion term alone.
        """
        if mode not in RETRIEVAL_MODES:
            raise InvalidRequest(f"unknown retrieval mode {mode!r}; use one of {RETRIEVAL_MODES}")
        wanted = self._params.candidates if limit is None else limit
        if wanted < 1:
            raise InvalidRequest(f"limit must be >= 1, got {wanted}")
        # Each retriever contributes `depth` hits (at least `limit`), so a small `limit`
        # still fuses well.
        top_n = max(wanted, self._params.depth)
        timings: dict[str, float] = {}
        started = time.perf_counter()
        bm25_hits: list[Hit] = []
        dense_hits: list[Hit] = []
        if mode == "bm25":
            bm25_hits = await self._bm25(kb, query, top_n, timings)
        elif mode == "dense":
            dense_hits = await self._dense(kb, query, top_n, timings)
        else:
            bm25_hits, dense_hits = await asyncio.gather(
                self._bm25(kb, query, top_n, timings), self._dense(kb, query, top_n, timings)
            )
        fuse_started = time.perf_counter()
        with stage_span(self._tracer, "fuse"):
            candidates = self._fuse(mode, bm25_hits, dense_hits, wanted)
        timings["fuse"] = _ms_since(fuse_started)
        timings["total"] = _ms_since(started)
        return Retrieved(candidates=candidates, timings_ms=timings)

    async def ranked_lists(self, kb: str, query: str, top_n: int) -> tuple[list[Hit], list[Hit]]:
        """Both retrievers' own top `top_n`, unfused (the evaluation replays fusion on them)."""
        timings: dict[str, float] = {}
        bm25_hits, dense_hits = await asyncio.gather(
            self._bm25(kb, query, top_n, timings), self._dense(kb, query, top_n, timings)
        )
        return bm25_hits, dense_hits

    async def _bm25(self, kb: str, query: str, top_n: int, timings: dict[str, float]) -> list[Hit]:
        with stage_span(self._tracer, "bm25"):
            return await _timed(self._backend.bm25(kb, query, top_n), "bm25", timings)

    async def _dense(self, kb: str, query: str, top_n: int, timings: dict[str, float]) -> list[Hit]:
        with stage_span(self._tracer, "embed"):
            vector = await _timed(
                asyncio.to_thread(self._embedder.embed_query, query), "embed_query", timings
            )
        info = self._embedder.index_info()
        with stage_span(self._tracer, "knn"):
            return await _timed(self._backend.knn(kb, vector, top_n, info), "knn", timings)

    def _fuse(
        self, mode: RetrievalMode, bm25_hits: list[Hit], dense_hits: list[Hit], limit: int
    ) -> list[Candidate]:
        params = self._params
        # One list: unit weights, so the retriever's own order is kept even when its hybrid
        # weight is 0.
        weights = (params.weight_bm25, params.weight_dense) if mode == "hybrid" else (1.0, 1.0)
        return fuse_hits(
            bm25_hits,
            dense_hits,
            method=params.fusion,
            k=params.rrf_k,
            weights=weights,
            limit=limit,
        )


async def _timed(step: Awaitable[T], name: str, timings: dict[str, float]) -> T:
    started = time.perf_counter()
    result = await step
    timings[name] = _ms_since(started)
    return result


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000.0, 3)
