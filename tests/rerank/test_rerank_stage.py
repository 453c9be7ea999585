"""RerankStage: ordering, caching, deadline, circuit breaker, concurrency.

Ordering and caching run the real cross-encoder (weights from disk). Timing and
failure behaviour use small Reranker-protocol doubles that wrap the real model
(adding a delay or a failure), so the scores they do return are still real.
"""

from __future__ import annotations

import asyncio
import math
import random
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import pytest
from sentence_transformers import CrossEncoder

from bot.cache.memory import InMemoryScoreCache
from bot.domain import Candidate, Chunk
from bot.errors import RerankError
from bot.rerank.blend import blended_order
from bot.rerank.circuit_breaker import CircuitBreaker
from bot.rerank.cross_encoder import CrossEncoderReranker
from bot.rerank.inputs import rerank_text
from bot.rerank.none import NoReranker
from bot.rerank.protocol import Reranker
from bot.rerank.stage import RerankBlend, RerankOutcome, RerankStage, score_cache_key

pytestmark = pytest.mark.model

QUERY = "How do I reset my password?"
ARTICLES = [
    ("billing", "Billing", ("Invoices",), "Invoices are emailed on the first of each month."),
    (
        "login",
        "Logging in",
        ("Forgotten password",),
        "Use Forgot password on the login page; we email a reset link valid for one hour.",
    ),
    ("profile", "Your profile", ("Avatar",), "Upload a square image from Personal settings."),
    (
        "sso",
        "Single sign-on",
        ("Passwords",),
        "With SAML your identity provider manages passwords; reset it there.",
    ),
    ("export", "Export", ("Formats",), "Administrators can export messages as JSON."),
    ("streams", "Channels", ("Archive",), "Archived channels keep their message history."),
]


def make_candidates(count: int = len(ARTICLES)) -> list[Candidate]:
    candidates = []
    for rank, (source, title, path, text) in enumerate(ARTICLES[:count], start=1):
        chunk = Chunk(
            kb="help",
            source_id=source,
            ordinal=0,
            title=title,
            heading_path=path,
            text=text,
            url=None,
            doc_hash=source,
        )
        candidates.append(Candidate(chunk=chunk, fused_score=1.0 / (60 + rank), bm25_rank=rank))
    return candidates


def ids(candidates: Sequence[Candidate]) -> list[str]:
    return [c.chunk.chunk_id for c in candidates]


class Counting:
    """Instrumentation around a real reranker: how often, and for how many chunks, it ran."""

    def __init__(self, inner: Reranker) -> None:
        self.inner, self.name = inner, inner.name
        self.calls: list[int] = []

    def warm_up(self) -> None:
        self.inner.warm_up()

    def score(self, query: str, chunks: Sequence[Chunk]) -> list[float]:
        self.calls.append(len(chunks))
        return self.inner.score(query, chunks)


class Slow(Counting):
    """The real model behind a fixed extra delay (a congested GPU, a slow API)."""

    def __init__(self, inner: Reranker, delay_s: float) -> None:
        super().__init__(inner)
        self.delay_s = delay_s
        self.waits: list[tuple[float, float]] = []  # (start, end) of each delay

    def score(self, query: str, chunks: Sequence[Chunk]) -> list[float]:
        started = time.monotonic()
        time.sleep(self.delay_s)
        self.waits.append((started, time.monotonic()))
        return super().score(query, chunks)


class Gated(Counting):
    """The real model, held at the door until the test opens it."""

    def __init__(self, inner: Reranker) -> None:
        super().__init__(inner)
        self.entered, self.release = threading.Event(), threading.Event()

    def score(self, query: str, chunks: Sequence[Chunk]) -> list[float]:
        self.entered.set()
        self.release.wait(timeout=30)
        return super().score(query, chunks)


class Flaky(Counting):
    """The real model, failing while `failing` is set (a backend outage)."""

    failing = True

    def score(self, query: str, chunks: Sequence[Chunk]) -> list[float]:
        if self.failing:
            self.calls.append(len(chunks))
            raise RerankError("backend down")
        return super().score(query, chunks)


class Fixed:
    """Returns given scores: for tie-breaking and malformed-output cases only."""

    name = "fixed"

    def __init__(self, value: float) -> None:
        self.value = value

    def warm_up(self) -> None: ...

    def score(self, query: str, chunks: Sequence[Chunk]) -> list[float]:
        return [self.value] * len(chunks)


class BrokenCache:
    """A cache whose backend is gone (the protocol says never raise; this one does)."""

    name = "broken"

    async def get_many(self, keys: Sequence[str]) -> list[float | None]:
        raise ConnectionError("cache down")

    async def set_many(self, scores: Mapping[str, float], ttl_s: int) -> None:
        raise ConnectionError("cache down")

    async def close(self) -> None: ...


@pytest.fixture(scope="module")
def cross_encoder(cross_encoder_path: Path) -> CrossEncoderReranker:
    model = CrossEncoderReranker(str(cross_encoder_path), max_length=256)
    model.warm_up()
    return model


def stage_for(reranker: Reranker | None, **kwargs: object) -> RerankStage:
    options: dict[str, object] = {"timeout_s": 10.0, "cache_ttl_s": 3600}
    options.update(kwargs)
    cache = options.pop("cache", InMemoryScoreCache())
    return RerankStage(reranker, cache, **options)  # type: ignore[arg-type]


# -- ordering ------------------------------------------------------------------------
async def test_order_follows_the_models_own_scores(
    cross_encoder: CrossEncoderReranker, cross_encoder_path: Path
) -> None:
    candidates = make_candidates()
    direct = CrossEncoder(str(cross_encoder_path), max_length=256, device=cross_encoder.device)
    expected = direct.predict(
        [(QUERY, rerank_text(c.chunk)) for c in candidates], show_progress_bar=False
    )
    expected_order = [
        ids(candidates)[i] for i in sorted(range(len(candidates)), key=lambda i: -expected[i])
    ]

    outcome = await stage_for(cross_encoder).rerank(QUERY, candidates)

    assert outcome.reranked and outcome.reason is None
    assert ids(outcome.candidates) == expected_order
    by_id = dict(zip(ids(candidates), expected.tolist(), strict=True))
    for candidate in outcome.candidates:
        assert candidate.rerank_score == pytest.approx(by_id[candidate.chunk.chunk_id], abs=1e-5)
    assert all(c.rerank_score is None for c in candidates), "inputs are not mutated"
    assert (outcome.cache_hits, outcome.cache_misses) == (0, len(candidates))


async def test_top_k_keeps_the_best(cross_encoder: CrossEncoderReranker) -> None:
    full = await stage_for(cross_encoder).rerank(QUERY, make_candidates())
    top = await stage_for(cross_encoder).rerank(QUERY, make_candidates(), top_k=2)
    assert ids(top.candidates) == ids(full.candidates)[:2]


async def test_equal_scores_fall_back_to_fused_score_then_chunk_id() -> None:
    candidates = make_candidates()
    candidates[4].fused_score = candidates[0].fused_score  # a fused tie: chunk_id decides
    shuffled = random.Random(7).sample(candidates, len(candidates))
    outcome = await stage_for(Fixed(0.5)).rerank(QUERY, shuffled)
    expected = sorted(candidates, key=lambda c: (-c.fused_score, c.chunk.chunk_id))
    assert ids(outcome.candidates) == ids(expected)


async def test_reranked_candidates_keep_every_other_field() -> None:
    candidates = make_candidates()
    for rank, candidate in enumerate(candidates, start=1):
        candidate.dense_rank = 10 + rank
    outcome = await stage_for(Fixed(0.25)).rerank(QUERY, candidates)
    by_id = {c.chunk.chunk_id: c for c in candidates}
    assert outcome.candidates == [
        replace(by_id[c.chunk.chunk_id], rerank_score=0.25) for c in outcome.candidates
    ]


async def test_blend_weighs_the_rerankers_order_against_the_fused_order(
    cross_encoder: CrossEncoderReranker,
) -> None:
    candidates = make_candidates()
    alone = await stage_for(cross_encoder).rerank(QUERY, candidates)
    scores = {c.chunk.chunk_id: c.rerank_score for c in alone.candidates}
    fused = [(c.chunk.chunk_id, c.fused_score) for c in candidates]
    for weight in (0.0, 0.5):
        blend = RerankBlend(weight=weight, method="rrf", k=60)
        outcome = await stage_for(cross_encoder, blend=blend).rerank(QUERY, candidates)
        expected = blended_order(fused, scores, weight=weight, method="rrf", k=60)  # type: ignore[arg-type]
        assert ids(outcome.candidates) == expected
        assert {c.chunk.chunk_id: c.rerank_score for c in outcome.candidates} == scores
    nothing_of_the_reranker = await stage_for(cross_encoder, blend=RerankBlend(0.0)).rerank(
        QUERY, candidates
    )
    assert ids(nothing_of_the_reranker.candidates) == ids(candidates)


async def test_disabled_reranker_keeps_fused_order() -> None:
    candidates = make_candidates()
    for reranker in (None, NoReranker()):
        stage = stage_for(reranker)
        outcome = await stage.rerank(QUERY, candidates, top_k=3)
        assert (outcome.reranked, outcome.reason) == (False, "reranker disabled")
        assert ids(outcome.candidates) == ids(candidates)[:3]
        assert stage.status()["reranker"] == "none"


async def test_no_candidates_is_not_an_error(cross_encoder: CrossEncoderReranker) -> None:
    outcome = await stage_for(cross_encoder).rerank(QUERY, [])
    assert outcome.candidates == [] and outcome.reason is None


# -- caching ----------------------------------------------------------------------------
async def test_cached_scores_skip_the_model(cross_encoder: CrossEncoderReranker) -> None:
    counting = Counting(cross_encoder)
    stage = stage_for(counting)
    first = await stage.rerank(QUERY, make_candidates(5))
    # Same query after NFKC, case-folding and whitespace collapsing: the same cache entries.
    second = await stage.rerank("  how do i RESET my\tpassword?  ", make_candidates(5))
    assert counting.calls == [5]
    assert (second.cache_hits, second.cache_misses) == (5, 0)
    assert ids(second.candidates) == ids(first.candidates)
    assert [c.rerank_score for c in second.candidates] == [c.rerank_score for c in first.candidates]

    third = await stage.rerank(QUERY, make_candidates(6))
    assert counting.calls == [5, 1], "only the new candidate is scored"
    assert (third.cache_hits, third.cache_misses) == (5, 1)


async def test_cache_keys_separate_rerankers_and_queries() -> None:
    chunk = make_candidates(1)[0].chunk
    keys = {
        score_cache_key("cross-encoder:a:256", QUERY, chunk),
        score_cache_key("cross-encoder:a:512", QUERY, chunk),
        score_cache_key("cross-encoder:a:256", "another question", chunk),
    }
    assert len(keys) == 3
    assert chunk.content_hash in score_cache_key("x", QUERY, chunk)


async def test_a_broken_cache_costs_speed_not_the_answer(
    cross_encoder: CrossEncoderReranker,
) -> None:
    outcome = await stage_for(cross_encoder, cache=BrokenCache()).rerank(QUERY, make_candidates())
    reference = await stage_for(cross_encoder).rerank(QUERY, make_candidates())
    assert outcome.reranked
    assert ids(outcome.candidates) == ids(reference.candidates)


# -- deadline and failures ----------------------------------------------------------------
async def test_deadline_falls_back_to_fused_order(cross_encoder: CrossEncoderReranker) -> None:
    candidates = make_candidates()
    stage = stage_for(cross_encoder, timeout_s=0.001)

    outcome = await stage.rerank(QUERY, candidates)

    assert (outcome.reranked, outcome.reason) == (False, "timeout after 0.001s")
    assert ids(outcome.candidates) == ids(candidates)
    assert all(c.rerank_score is None for c in outcome.candidates)
    assert stage.status()["counters"]["fallback_timeout"] == 1  # type: ignore[index]


async def test_scores_finished_after_the_deadline_warm_the_cache(
    cross_encoder: CrossEncoderReranker,
) -> None:
    gated = Gated(cross_encoder)
    cache = InMemoryScoreCache()
    candidates = make_candidates()

    late = await stage_for(gated, cache=cache, timeout_s=0.5).rerank(QUERY, candidates)
    assert late.reason == "timeout after 0.5s"
    assert gated.entered.is_set(), "scoring had started before the deadline"
    gated.release.set()

    keys = [score_cache_key(gated.name, QUERY, c.chunk) for c in candidates]
    for _ in range(200):  # the model finishes in the background, then fills the cache
        if None not in await cache.get_many(keys):
            break
        await asyncio.sleep(0.05)
    warm = await stage_for(gated, cache=cache).rerank(QUERY, candidates)
    assert warm.reranked and warm.cache_hits == len(candidates)
    assert gated.calls == [len(candidates)]


async def test_slow_reranker_costs_only_the_budget(cross_encoder: CrossEncoderReranker) -> None:
    stage = stage_for(Slow(cross_encoder, delay_s=1.5), timeout_s=0.2)
    started = time.perf_counter()
    outcome = await stage.rerank(QUERY, make_candidates())
    elapsed = time.perf_counter() - started
    assert not outcome.reranked and outcome.reason == "timeout after 0.2s"
    assert elapsed < 0.7, f"the stage waited {elapsed:.2f}s for a 0.2s budget"


async def test_requests_abandoned_while_queued_are_never_scored(
    cross_encoder: CrossEncoderReranker,
) -> None:
    slow = Slow(cross_encoder, delay_s=0.4)
    with ThreadPoolExecutor(max_workers=1) as pool:
        stage = stage_for(slow, executor=pool, timeout_s=0.1)
        queries = ["first", "second", "third"]
        outcomes = await asyncio.gather(*(stage.rerank(q, make_candidates()) for q in queries))
        assert [o.reason for o in outcomes] == ["timeout after 0.1s"] * 3
    assert slow.calls == [len(ARTICLES)], "only the request already running was scored"


async def test_reranker_error_falls_back_and_says_why(cross_encoder: CrossEncoderReranker) -> None:
    stage = stage_for(Flaky(cross_encoder))
    outcome = await stage.rerank(QUERY, make_candidates(), top_k=4)
    assert (outcome.reranked, outcome.reason) == (False, "reranker error: backend down")
    assert ids(outcome.candidates) == ids(make_candidates())[:4]
    assert stage.status()["counters"]["fallback_error"] == 1  # type: ignore[index]


@pytest.mark.parametrize("bad", [math.nan, math.inf])
async def test_non_finite_scores_are_a_reranker_error(bad: float) -> None:
    outcome = await stage_for(Fixed(bad)).rerank(QUERY, make_candidates())
    assert not outcome.reranked
    assert "non-finite" in (outcome.reason or "")


async def test_breaker_opens_after_failures_and_recovers(
    cross_encoder: CrossEncoderReranker,
) -> None:
    flaky = Flaky(cross_encoder)
    breaker = CircuitBreaker(failure_threshold=2, reset_after_s=0.3)
    stage = stage_for(flaky, breaker=breaker)

    for _ in range(2):
        assert (
            await stage.rerank(QUERY, make_candidates())
        ).reason == "reranker error: backend down"
    assert breaker.state == "open"
    skipped = await stage.rerank(QUERY, make_candidates())
    assert (skipped.reranked, skipped.reason) == (False, "circuit open")
    assert len(flaky.calls) == 2, "an open circuit does not call the backend"

    flaky.failing = False
    await asyncio.sleep(0.35)
    assert breaker.state == "half_open"
    recovered = await stage.rerank(QUERY, make_candidates())
    assert recovered.reranked
    assert breaker.state == "closed"
    status = stage.status()
    assert status["breaker"] == "closed"
    assert status["counters"] == {
        "applied": 1,
        "skipped": 0,
        "fallback_error": 2,
        "fallback_timeout": 0,
        "breaker_open": 1,
    }


async def test_failed_trial_reopens_the_breaker(cross_encoder: CrossEncoderReranker) -> None:
    breaker = CircuitBreaker(failure_threshold=1, reset_after_s=0.2)
    stage = stage_for(Flaky(cross_encoder), breaker=breaker)
    await stage.rerank(QUERY, make_candidates())
    await asyncio.sleep(0.25)
    trial = await stage.rerank(QUERY, make_candidates())
    assert trial.reason == "reranker error: backend down"
    assert breaker.state == "open"
    assert (await stage.rerank(QUERY, make_candidates())).reason == "circuit open"


async def test_open_breaker_still_serves_cached_scores(cross_encoder: CrossEncoderReranker) -> None:
    cache = InMemoryScoreCache()
    warm = await stage_for(cross_encoder, cache=cache).rerank(QUERY, make_candidates())
    breaker = CircuitBreaker(failure_threshold=1, reset_after_s=60)
    flaky = Flaky(cross_encoder)
    stage = stage_for(flaky, cache=cache, breaker=breaker)  # same model name: same entries
    await stage.rerank("something never asked", make_candidates())
    assert breaker.state == "open"
    outcome = await stage.rerank(QUERY, make_candidates())
    assert outcome.reranked and ids(outcome.candidates) == ids(warm.candidates)


# -- concurrency -------------------------------------------------------------------------------
async def test_concurrent_requests_do_not_queue_behind_each_other(
    cross_encoder: CrossEncoderReranker,
) -> None:
    slow = Slow(cross_encoder, delay_s=0.5)
    queries = [QUERY, "invoice date", "export messages", "change avatar"]
    with ThreadPoolExecutor(max_workers=4) as pool:
        stage = stage_for(slow, executor=pool)
        outcomes = await asyncio.gather(*(stage.rerank(q, make_candidates()) for q in queries))
    assert all(o.reranked for o in outcomes)
    latest_start = max(start for start, _ in slow.waits)
    earliest_end = min(end for _, end in slow.waits)
    assert latest_start < earliest_end, "all four requests were waiting at the same moment"
    for query, outcome in zip(queries, outcomes, strict=True):
        alone = await stage_for(cross_encoder).rerank(query, make_candidates())
        assert ids(outcome.candidates) == ids(alone.candidates)


async def test_slow_scoring_leaves_the_event_loop_and_cache_hits_free(
    cross_encoder: CrossEncoderReranker,
) -> None:
    cache = InMemoryScoreCache()
    slow = Slow(cross_encoder, delay_s=0.8)
    with ThreadPoolExecutor(max_workers=2) as pool:
        stage = stage_for(slow, cache=cache, executor=pool)
        await stage_for(cross_encoder, cache=cache).rerank(QUERY, make_candidates())

        in_flight = asyncio.create_task(stage.rerank("a question nobody cached", make_candidates()))
        await asyncio.sleep(0.05)
        started = time.perf_counter()
        cached: RerankOutcome = await stage.rerank(QUERY, make_candidates())
        cached_s = time.perf_counter() - started
        ticks_started = time.perf_counter()
        for _ in range(10):
            await asyncio.sleep(0.01)
        ticks_s = time.perf_counter() - ticks_started
        assert not in_flight.done(), "the slow request is still scoring"
        assert (await in_flight).reranked
    assert cached.reranked and cached.cache_hits == len(ARTICLES)
    assert cached_s < 0.2, f"a cache hit waited {cached_s:.2f}s behind a slow request"
    assert ticks_s < 0.5, "the event loop was blocked while the model ran"


def test_half_open_breaker_lets_one_trial_through_and_replaces_a_lost_one() -> None:
    now = [0.0]
    breaker = CircuitBreaker(failure_threshold=1, reset_after_s=10, clock=lambda: now[0])
    breaker.record_failure()
    assert not breaker.allow()
    now[0] = 10.0
    assert breaker.allow(), "cool-down over: one trial"
    assert not breaker.allow(), "only one trial at a time"
    now[0] = 20.0  # the trial's caller vanished without reporting back
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state == "closed" and breaker.allow()
