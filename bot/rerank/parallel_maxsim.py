"""TwoThreadMaxSim: the candidates' MaxSim split over two threads while the CPUs are idle.

After the question's encoding, the MaxSim of 50 candidates (~3.7 ms on one core of the
2-core machine) is the longest step of a search, and it runs on one BLAS thread (two
waited for each other on busy cores, bot/inference/devices.py). Each candidate's score
comes from its own product (bot/rerank/maxsim.py), so the candidates can be cut in two
halves, one scored in a helper thread while the caller scores the other (NumPy releases
the GIL in the products): the same scores to the bit, in about half the time when a
second core is free. Whether it is free is judged as for the question's encoder: the
1-minute load average per CPU under `busy_load`; at or over it, or while the helper is
busy with another search, the caller scores everything itself.
"""

from __future__ import annotations

import concurrent.futures
import threading
from collections.abc import Callable, Sequence

from bot.domain import Vector
from bot.inference.devices import available_cpus, load_per_cpu
from bot.rerank.maxsim import maxsim_scores

MIN_SPLIT_TOKENS = 2048
"""Below this many candidate tokens (~18 chunks) the hand-off costs more than it saves."""


class TwoThreadMaxSim:
    """Callable like `maxsim_scores`; owns one helper thread, started at first use."""

    def __init__(
        self,
        busy_load: float = 1.0,
        *,
        cpus: int | None = None,
        load: Callable[[int], float | None] = load_per_cpu,
    ) -> None:
        self._busy_load = busy_load
        self._cpus = available_cpus() if cpus is None else cpus
        self._load = load
        self._helper: concurrent.futures.ThreadPoolExecutor | None = None
        self._helper_free = threading.Semaphore(1)
        self._start_lock = threading.Lock()

    def __call__(self, query_tokens: Vector, chunk_tokens: Sequence[Vector]) -> list[float]:
        half = self._split_point(chunk_tokens)
        if half is None or not self._helper_free.acquire(blocking=False):
            return maxsim_scores(query_tokens, chunk_tokens)
        try:
            first = self._executor().submit(maxsim_scores, query_tokens, chunk_tokens[:half])
            second = maxsim_scores(query_tokens, chunk_tokens[half:])
            return first.result() + second
        finally:
            self._helper_free.release()

    def close(self) -> None:
        with self._start_lock:
            if self._helper is not None:
                self._helper.shutdown(wait=True)
                self._helper = None

    def _split_point(self, chunk_tokens: Sequence[Vector]) -> int | None:
        """Where half the tokens are done, or None when one thread should do it all."""
        if self._cpus < 2 or len(chunk_tokens) < 2:
            return None
        total = sum(len(matrix) for matrix in chunk_tokens)
        if total < MIN_SPLIT_TOKENS:
            return None
        load = self._load(self._cpus)
        if load is None or load >= self._busy_load:
            return None
        done = 0
        for index, matrix in enumerate(chunk_tokens):
            done += len(matrix)
            if 2 * done >= total:
                return min(max(index + 1, 1), len(chunk_tokens) - 1)
        return None  # pragma: no cover - the loop always reaches half of `total`

    def _executor(self) -> concurrent.futures.ThreadPoolExecutor:
        with self._start_lock:
            if self._helper is None:
                self._helper = concurrent.futures.ThreadPoolExecutor(
                    max_workers=1, thread_name_prefix="maxsim-helper"
                )
            return self._helper
