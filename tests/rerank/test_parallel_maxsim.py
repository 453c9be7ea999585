"""TwoThreadMaxSim: the same scores to the bit, split over two threads only when idle."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from bot.domain import Vector
from bot.rerank.maxsim import maxsim_scores, normalise_rows
from bot.rerank.parallel_maxsim import MIN_SPLIT_TOKENS, TwoThreadMaxSim


def batch(seed: int, lengths: list[int]) -> tuple[Vector, list[Vector]]:
    rng = np.random.default_rng(seed)
    query = normalise_rows(rng.normal(size=(21, 384)).astype(np.float32))
    docs = [normalise_rows(rng.normal(size=(n, 384)).astype(np.float32)) for n in lengths]
    return query, docs


RERANK_SIZED = [*np.random.default_rng(2).integers(1, 256, size=47).tolist(), 0, 113, 0]


def helper_threads() -> set[threading.Thread]:
    """Other services built earlier in a test session may hold their own helpers."""
    return {t for t in threading.enumerate() if t.name.startswith("maxsim-helper")}


def test_idle_cpus_split_the_candidates_and_score_them_identically() -> None:
    before = helper_threads()
    maxsim = TwoThreadMaxSim(busy_load=1.0, cpus=2, load=lambda cpus: 0.2)
    try:
        query, docs = batch(1, RERANK_SIZED)
        assert maxsim(query, docs) == maxsim_scores(query, docs)  # exactly, not approx
        started = helper_threads() - before
        assert len(started) == 1, "one helper thread scored half the candidates"
    finally:
        maxsim.close()
    assert not any(thread.is_alive() for thread in started)


@pytest.mark.parametrize(
    ("cpus", "load", "lengths"),
    [
        (2, 1.0, RERANK_SIZED),  # at the busy load: one thread
        (2, None, RERANK_SIZED),  # no load average on this OS: one thread
        (1, 0.0, RERANK_SIZED),  # one CPU: nothing to split onto
        (2, 0.0, [MIN_SPLIT_TOKENS // 4] * 3 + [MIN_SPLIT_TOKENS // 4 - 1]),  # too small
        (2, 0.0, [4000]),  # one candidate
    ],
)
def test_busy_cpus_or_small_batches_stay_on_the_callers_thread(
    cpus: int, load: float | None, lengths: list[int]
) -> None:
    maxsim = TwoThreadMaxSim(busy_load=1.0, cpus=cpus, load=lambda _: load)
    query, docs = batch(3, lengths)
    assert maxsim(query, docs) == maxsim_scores(query, docs)
    assert maxsim._helper is None


def test_concurrent_searches_share_the_helper_without_mixing_results() -> None:
    maxsim = TwoThreadMaxSim(busy_load=1.0, cpus=2, load=lambda cpus: 0.0)
    batches = [batch(seed, RERANK_SIZED) for seed in range(8)]
    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            results = list(pool.map(lambda b: maxsim(*b), batches * 3))
    finally:
        maxsim.close()
    assert results == [maxsim_scores(*b) for b in batches * 3]
