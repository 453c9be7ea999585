"""limit_blas_threads caps the BLAS NumPy really uses (threadpoolctl reads it back)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from threadpoolctl import ThreadpoolController, threadpool_limits

from bot.inference.devices import limit_blas_threads


def blas_threads() -> list[int]:
    return [
        pool["num_threads"] for pool in ThreadpoolController().info() if pool["user_api"] == "blas"
    ]


@pytest.fixture
def restored_blas() -> Iterator[None]:
    original = ThreadpoolController().info()
    yield
    threadpool_limits(limits=original)


def test_one_thread_is_what_numpy_then_uses(restored_blas: None) -> None:
    np.ones((4, 4)) @ np.ones((4, 4))  # BLAS is loaded
    assert blas_threads(), "NumPy's BLAS should be visible to threadpoolctl"
    limit_blas_threads(1)
    assert blas_threads() == [1] * len(blas_threads())


def test_zero_leaves_the_thread_count_alone(restored_blas: None) -> None:
    threadpool_limits(limits=2, user_api="blas")
    limit_blas_threads(0)
    assert blas_threads() == [2] * len(blas_threads())
