"""MaxSim, the late-interaction score: for each query token, its best cosine match among a
chunk's tokens, averaged over the query tokens.

Each candidate's token matrix is multiplied by the query's straight into its own rows of
one (total tokens × q) array, and the per-chunk maxima are taken down the rows segment by
segment (one `reduceat`). The matrices come from the token cache as they are: stacking
them into one operand first (the former code, one product for all candidates) copied
~8.7 MB per search for 50 candidates of ~113 tokens, which cost more than the products
saved by being one call (rerank p50 −1 ms, benchmarks/README.md "/v1/search latency").
`chunk @ query.T` keeps the long operand on the left, in the row-major layout it is
stored in; `query @ chunk.T` was ~1 ms slower on one BLAS thread. Scores agree with the
one-product form within float32 rounding (largest difference seen 4e-8).
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
    for matrix in chunk_tokens:
        if len(matrix) and matrix.shape[1] != dim:
            raise ValueError(f"token vectors have dimension {matrix.shape[1]}, query has {dim}")
    lengths = np.fromiter((len(matrix) for matrix in chunk_tokens), dtype=np.int64)
    scores = np.zeros(len(chunk_tokens), dtype=np.float32)
    present = lengths > 0
    if not present.any():
        return scores.tolist()
    query_t = query_tokens.astype(np.float32, copy=False).T
    ends = np.cumsum(lengths)
    # (total tokens, q): each chunk's products land in its own rows, no stacked copy.
    similarities = np.empty((int(ends[-1]), query_t.shape[1]), dtype=np.float32)
    for matrix, end, length in zip(chunk_tokens, ends.tolist(), lengths.tolist(), strict=True):
        if length:
            np.matmul(
                np.asarray(matrix, dtype=np.float32), query_t, out=similarities[end - length : end]
            )
    starts = (ends - lengths)[present]
    best = np.maximum.reduceat(similarities, starts, axis=0)  # (chunks with tokens, q)
    scores[present] = best.mean(axis=1)
    return [float(value) for value in scores]
