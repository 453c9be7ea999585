"""MaxSim, the late-interaction score: for each query token, its best cosine match among a
chunk's tokens, averaged over the query tokens.

All candidates are scored with one matrix product: the chunks' token matrices are
stacked, multiplied by the query's, and the per-chunk maxima are taken segment by
segment, so 50 candidates of ~250 tokens cost one (q × 12 500) product.

The product is taken as `stacked @ query.T`, (total tokens × q), with the segment maxima
down the rows: the stack stays in the row-major layout it was built in. The other way
round, `query @ stacked.T`, hands OpenBLAS a transposed 12 500-column operand against a
~15-row one; on one BLAS thread the MaxSim of 50 candidates took ~1 ms more that way
(rerank p50 8.2 → 6.9 ms on the Zulip dev questions, benchmarks/README.md). Same sums,
so scores agree within float32 rounding (largest difference seen 5e-7).
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
    # (total tokens, q): the long operand on the left, as stored (see the module note).
    similarities = stacked @ query_tokens.astype(np.float32, copy=False).T
    starts = np.concatenate(([0], np.cumsum(lengths[lengths > 0])[:-1]))
    best = np.maximum.reduceat(similarities, starts, axis=0)  # (chunks with tokens, q)
    scores[lengths > 0] = best.mean(axis=1)
    return [float(value) for value in scores]
