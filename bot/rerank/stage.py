"""The rerank stage: cached, deadline-bound, circuit-broken rescoring of fused candidates.

    keys ─▶ cache.get_many ─▶ score only the misses (executor thread, under a deadline)
                                  └─▶ cache.set_many(new scores)
    order by the reranker's score (ties: fused score, chunk_id), or blend it with the
    fused order when `blend.weight` < 1 (bot/rerank/blend.py)

Any failure (error, deadline, open circuit) degrades to the fused order with
`reranked=False` and a `reason`; the stage itself never raises for a reranker fault.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import math
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from bot.cache.protocol import ScoreCache
from bot.domain import Candidate, Chunk
from bot.errors import RerankError
from bot.rerank.blend import blended_order, with_document_evidence
from bot.rerank.circuit_breaker import CircuitBreaker
from bot.rerank.inputs import query_digest
from bot.rerank.protocol import Reranker
from bot.retrieval.fusion import FusionMethod

logger = logging.getLogger(__name__)

RerankResult = Literal["applied", "skipped", "fallback_error", "fallback_timeout", "breaker_open"]


@dataclass
class RerankOutcome:
    candidates: list[Candidate]
    """Best first; `rerank_score` is filled when `reranked` is True."""
    reranked: bool
    reason: str | None = None
    cache_hits: int = 0
    cache_misses: int = 0
    timings_ms: dict[str, float] = field(default_factory=dict)


class RerankMetrics(Protocol):
    """Where the stage reports each outcome (e.g. Prometheus counters and histograms)."""

    def observe(self, result: RerankResult, outcome: RerankOutcome) -> None: ...


@dataclass(frozen=True, slots=True)
class RerankBlend:
    """How the reranker's scores combine with the fused order (weight 1 = reranker alone)."""

    weight: float = 1.0
    method: FusionMethod = "rrf"
    k: float = 60
    document_evidence: float = 0.0
    """Share of an article's runner-up chunk score added to its chunks (0 = none)."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.weight <= 1.0:
            raise ValueError(f"rerank weight must be in [0, 1], got {self.weight}")
        if self.document_evidence < 0:
            raise ValueError(f"document evidence must be >= 0, got {self.document_evidence}")


class _DeadlineExceeded(Exception):
    """The stage's own deadline, told apart from a TimeoutError raised inside a reranker."""


def score_cache_key(reranker_name: str, query: str, chunk: Chunk) -> str:
    return score_key_prefix(reranker_name, query) + chunk.content_hash


def score_key_prefix(reranker_name: str, query: str) -> str:
    """The part of a score key shared by all of one query's candidates (digested once)."""
    return f"rerank:{reranker_name}:{query_digest(query)}:"


class RerankStage:
    def __init__(
        self,
        reranker: Reranker | None,
        cache: ScoreCache,
        *,
        timeout_s: float,
        cache_ttl_s: int,
        breaker: CircuitBreaker | None = None,
        executor: concurrent.futures.Executor | None = None,
        metrics: RerankMetrics | None = None,
        blend: RerankBlend | None = None,
    ) -> None:
        if timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        disabled = reranker is None or reranker.name == "none"
        self._reranker = None if disabled else reranker
        self._cache = cache
        self._timeout_s = timeout_s
        self._cache_ttl_s = cache_ttl_s
        self._breaker = breaker
        self._executor = executor
        self._metrics = metrics
        self._blend = blend or RerankBlend()
        self._counters: dict[RerankResult, int] = dict.fromkeys(
            ("applied", "skipped", "fallback_error", "fallback_timeout", "breaker_open"), 0
        )
        self._late_writes: set[asyncio.Task[None]] = set()

    @property
    def reranker_name(self) -> str:
        return self._reranker.name if self._reranker is not None else "none"

    def status(self) -> dict[str, object]:
        """For /readyz: which reranker, the breaker's state, and how requests fared."""
        return {
            "reranker": self.reranker_name,
            "enabled": self._reranker is not None,
            "timeout_s": self._timeout_s,
            "breaker": self._breaker.state if self._breaker is not None else None,
            "consecutive_failures": (
                self._breaker.consecutive_failures if self._breaker is not None else 0
            ),
            "counters": dict(self._counters),
        }

    async def rerank(
        self, query: str, candidates: Sequence[Candidate], *, top_k: int | None = None
    ) -> RerankOutcome:
        if top_k is not None and top_k < 1:
            raise ValueError(f"top_k must be at least 1, got {top_k}")
        started = time.perf_counter()
        fused = list(candidates)
        reranker = self._reranker
        if reranker is None or not fused:
            reason = "reranker disabled" if reranker is None else None
            return self._finish("skipped", RerankOutcome(fused[:top_k], False, reason), started)
        deadline = asyncio.get_running_loop().time() + self._timeout_s
        timings: dict[str, float] = {}
        prefix = score_key_prefix(reranker.name, query)
        keys = [prefix + candidate.chunk.content_hash for candidate in fused]

        tick = time.perf_counter()
        cached = await self._cache_get(keys)
        timings["cache_get"] = _ms_since(tick)
        scores = {key: value for key, value in zip(keys, cached, strict=True) if value is not None}
        hits = sum(value is not None for value in cached)
        misses = {key: c.chunk for key, c in zip(keys, fused, strict=True) if key not in scores}

        def fallback(result: RerankResult, reason: str) -> RerankOutcome:
            logger.warning("rerank fell back to fused order: %s", reason)
            outcome = RerankOutcome(fused[:top_k], False, reason, hits, len(keys) - hits, timings)
            return self._finish(result, outcome, started)

        if misses:
            if self._breaker is not None and not self._breaker.allow():
                return fallback("breaker_open", "circuit open")
            tick = time.perf_counter()
            try:
                new_scores = await self._score(reranker, query, misses, deadline)
            except _DeadlineExceeded:
                self._record_failure()
                timings["score"] = _ms_since(tick)
                return fallback("fallback_timeout", f"timeout after {self._timeout_s}s")
            except Exception as exc:  # noqa: BLE001 - any reranker fault degrades, never 500s
                self._record_failure()
                timings["score"] = _ms_since(tick)
                return fallback("fallback_error", f"reranker error: {str(exc)[:300]}")
            timings["score"] = _ms_since(tick)
            if self._breaker is not None:
                self._breaker.record_success()
            scores.update(new_scores)
            tick = time.perf_counter()
            await self._cache_set(new_scores)
            timings["cache_set"] = _ms_since(tick)

        # Ties: the better fused score (= fused rank) first, then chunk_id, so the
        # order never depends on how the caller happened to order equal candidates.
        by_id = {c.chunk.chunk_id: (key, c) for key, c in zip(keys, fused, strict=True)}
        blend = self._blend
        order = blended_order(
            [(chunk_id, c.fused_score) for chunk_id, (_, c) in by_id.items()],
            with_document_evidence(
                {chunk_id: scores[key] for chunk_id, (key, _) in by_id.items()},
                {chunk_id: c.chunk.source_id for chunk_id, (_, c) in by_id.items()},
                blend.document_evidence,
            ),
            weight=blend.weight,
            method=blend.method,
            k=blend.k,
        )
        best = [
            _rescored(by_id[chunk_id][1], scores[by_id[chunk_id][0]]) for chunk_id in order[:top_k]
        ]
        outcome = RerankOutcome(best, True, None, hits, len(keys) - hits, timings)
        return self._finish("applied", outcome, started)

    # -- scoring ---------------------------------------------------------------------
    async def _score(
        self, reranker: Reranker, query: str, misses: Mapping[str, Chunk], deadline: float
    ) -> dict[str, float]:
        loop = asyncio.get_running_loop()
        keys, chunks = list(misses), list(misses.values())
        abandoned = threading.Event()

        def run() -> list[float]:
            # Still queued when its request gave up? Then skip it: under overload,
            # computing answers nobody waits for only makes the queue longer.
            if abandoned.is_set():
                raise RerankError("deadline passed while queued for the executor")
            return reranker.score(query, chunks)

        work = loop.run_in_executor(self._executor, run)
        try:
            # shield: on timeout a running thread cannot be stopped, but its result is kept.
            values = await asyncio.wait_for(asyncio.shield(work), deadline - loop.time())
        except TimeoutError:
            if not work.done():
                abandoned.set()
                work.add_done_callback(lambda done: self._cache_late_scores(keys, done))
                raise _DeadlineExceeded from None
            values = work.result()
        return _checked_scores(keys, values)

    def _cache_late_scores(self, keys: list[str], work: asyncio.Future[list[float]]) -> None:
        """A result that missed the deadline still warms the cache for the next asker."""
        if work.cancelled() or work.exception() is not None:
            return
        try:
            scores = _checked_scores(keys, work.result())
        except RerankError as exc:
            logger.warning("discarding late rerank scores: %s", exc)
            return
        task = asyncio.get_running_loop().create_task(self._cache_set(scores))
        self._late_writes.add(task)
        task.add_done_callback(self._late_writes.discard)

    # -- cache (best effort: a broken cache costs speed, never the answer) -----------
    async def _cache_get(self, keys: list[str]) -> list[float | None]:
        try:
            found = await self._cache.get_many(keys)
        except Exception:
            logger.exception("score cache %s read failed; scoring everything", self._cache.name)
            return [None] * len(keys)
        if len(found) != len(keys):
            logger.error(
                "score cache %s returned %s values for %s keys",
                self._cache.name,
                len(found),
                len(keys),
            )
            return [None] * len(keys)
        return found

    async def _cache_set(self, scores: Mapping[str, float]) -> None:
        if not scores:
            return
        try:
            await self._cache.set_many(scores, self._cache_ttl_s)
        except Exception:
            logger.exception("score cache %s write failed", self._cache.name)

    # -- bookkeeping ---------------------------------------------------------------
    def _record_failure(self) -> None:
        if self._breaker is not None:
            self._breaker.record_failure()

    def _finish(
        self, result: RerankResult, outcome: RerankOutcome, started: float
    ) -> RerankOutcome:
        outcome.timings_ms["total"] = _ms_since(started)
        self._counters[result] += 1
        if self._metrics is not None:
            self._metrics.observe(result, outcome)
        return outcome


def _rescored(candidate: Candidate, score: float) -> Candidate:
    """`dataclasses.replace(candidate, rerank_score=score)` at a quarter of its cost (~4 µs
    each, 50 a search); a new Candidate field must be passed on here too (tested)."""
    return Candidate(
        candidate.chunk, candidate.fused_score, candidate.bm25_rank, candidate.dense_rank, score
    )


def _checked_scores(keys: list[str], values: Sequence[float]) -> dict[str, float]:
    if len(values) != len(keys):
        raise RerankError(f"reranker returned {len(values)} scores for {len(keys)} chunks")
    scores = {key: float(value) for key, value in zip(keys, values, strict=True)}
    if not all(math.isfinite(value) for value in scores.values()):
        raise RerankError("reranker returned non-finite scores (NaN or infinity)")
    return scores


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)
