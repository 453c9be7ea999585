"""Exact cosine kNN over an in-memory matrix, one per KB, rebuilt when the KB changes.

Help centers hold thousands to a few hundred thousand chunks: a brute-force matrix
product over float32 rows takes milliseconds there, is exact, and needs no ANN index to
keep in sync. The matrix is keyed by (index id, generation); every write bumps the
generation in SQLite, so a reader in any process notices and reloads.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from bot.domain import Vector

VECTOR_DTYPE = np.dtype("<f4")
"""Vectors are stored as little-endian float32 BLOBs."""


def vector_to_blob(vector: Vector) -> bytes:
    return np.ascontiguousarray(vector, dtype=VECTOR_DTYPE).tobytes()


@dataclass(frozen=True, slots=True)
class VectorMatrix:
    """Row-normalised vectors of one index snapshot and the chunk rows they belong to."""

    index_id: int
    generation: int
    rows: npt.NDArray[np.int64]
    matrix: Vector

    @classmethod
    def from_blobs(
        cls, index_id: int, generation: int, dimension: int, pairs: list[tuple[int, bytes]]
    ) -> VectorMatrix:
        rows = np.fromiter((row for row, _ in pairs), dtype=np.int64, count=len(pairs))
        flat = np.frombuffer(b"".join(blob for _, blob in pairs), dtype=VECTOR_DTYPE)
        matrix = flat.reshape(len(pairs), dimension).astype(np.float32)
        matrix /= np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
        return cls(index_id, generation, rows, matrix)

    def top(self, query: Vector, top_n: int) -> list[tuple[int, float]]:
        """(chunk row, cosine) of the `top_n` nearest rows, best first, ties by row."""
        if top_n <= 0 or len(self.rows) == 0:
            return []
        unit = np.asarray(query, dtype=np.float32)
        unit = unit / max(float(np.linalg.norm(unit)), 1e-12)
        # einsum runs in this thread; BLAS `@` hands a matrix-vector product to its thread
        # pool, whose wake-ups cost more than the product on a busy few-core server.
        scores = np.einsum("ij,j->i", self.matrix, unit)
        if top_n < len(scores):
            keep = np.argpartition(-scores, top_n - 1)[:top_n]
        else:
            keep = np.arange(len(scores))
        # lexsort sorts by its last key first: best score, then lowest row for ties.
        order = keep[np.lexsort((self.rows[keep], -scores[keep]))]
        return [(int(self.rows[i]), float(scores[i])) for i in order]


class MatrixCache:
    """The latest VectorMatrix per KB; loads at most once per snapshot, thread-safe."""

    def __init__(self) -> None:
        self._matrices: dict[str, VectorMatrix] = {}
        self._lock = threading.Lock()

    def get(
        self, kb: str, index_id: int, generation: int, load: Callable[[], VectorMatrix]
    ) -> VectorMatrix:
        # Loading under the lock stops a burst of queries after a write from each
        # loading the same matrix; loads are rare (once per write) and fast.
        with self._lock:
            cached = self._matrices.get(kb)
            if cached is not None and (cached.index_id, cached.generation) == (
                index_id,
                generation,
            ):
                return cached
            fresh = load()
            self._matrices[kb] = fresh
            return fresh

    def forget(self, kb: str) -> None:
        with self._lock:
            self._matrices.pop(kb, None)

    def clear(self) -> None:
        with self._lock:
            self._matrices.clear()
