"""MaxSim, the late-interaction score: for each query token, its best cosine match among a
chunk's tokens, averaged over the query tokens.

All candidates are scored with one matrix product: the chunks' token matrices are
stacked, multiplied by the query's, and the per-chunk maxima are taken segment by
segment, so 50 candidates of ~250 tokens cost one (q × 12 500) product.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from bot.domain import Vector


def normalise_rows(matrix: Vector) -> Vector:
    """L2-normalise each row (token vector); all-zero rows stay zero."""
    matrix = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    normalised: Vector = (matrix / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)
    return normalised


def maxsim_scores(query_tokens: Vector, chunk_tokens: Sequence[Vector]) -> list[float]:
    """MaxSim of one query against each chunk; rows must already be L2-normalised.

    A chunk without tokens scores 0.0 (no evidence), never NaN.
    """
    if not chunk_tokens:
        return []
    if query_tokens.ndim != 2 or query_tokens.shape[0] == 0:
        raise ValueError("query needs at least one token vector")
    dim = query_tokens.shape[1]
    lengths = np.fromiter((len(matrix) for matrix in chunk_tokens), dtype=np.int64)
    for matrix in chunk_tokens:
        if len(matrix) and matrix.shape[1] != dim:
            raise ValueError(f"token vectors have dimension {matrix.shape[1]}, query has {dim}")
    present = [matrix for matrix in chunk_tokens if len(matrix)]
    scores = np.zeros(len(chunk_tokens), dtype=np.float32)
    if not present:
        return scores.tolist()
    stacked = np.concatenate(present).astype(np.float32, copy=False)
    similarities = query_tokens.astype(np.float32, copy=False) @ stacked.T  # (q, total tokens)
    starts = np.concatenate(([0], np.cumsum(lengths[lengths > 0])[:-1]))
    best = np.maximum.reduceat(similarities, starts, axis=1)  # (q, chunks with tokens)
    scores[lengths > 0] = best.mean(axis=0)
    return [float(value) for value in scores]
