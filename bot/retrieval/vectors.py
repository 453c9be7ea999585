"""Checks every backend runs on a vector before it stores it.

A wrong shape, NaN or an all-zero vector would poison cosine scores for every query, so
each backend reports it per document instead of indexing it.
"""

from __future__ import annotations

import numpy as np


def vector_problem(vector: object, dimension: int) -> str | None:
    """Why `vector` cannot be indexed at `dimension`, or None when it can."""
    array = np.asarray(vector)
    if array.shape != (dimension,):
        return f"vector has shape {array.shape}, the index expects ({dimension},)"
    if not np.issubdtype(array.dtype, np.number):
        return f"vector has dtype {array.dtype}, expected float32"
    if not np.all(np.isfinite(array)):
        return "vector contains NaN or infinity"
    if not np.any(array):
        return "vector is all zeros, so it has no direction to compare"
    return None
