"""Compact encodings for stored token vectors: fp16, or int8 with one scale per token.

Token vectors are L2-normalised before encoding, so every component lies in [-1, 1].
int8 keeps each row's largest magnitude at ±127 (symmetric, per-row scale), which bounds
the error of a component by scale / 2 ≤ 1 / 254 of the row's largest component.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from bot.domain import Vector

TokenPrecision = Literal["fp16", "int8"]
PRECISIONS: tuple[TokenPrecision, ...] = ("fp16", "int8")


@dataclass(frozen=True, slots=True)
class EncodedTokens:
    """One chunk's token matrix as bytes, ready for a BLOB column."""

    precision: TokenPrecision
    tokens: int
    dim: int
    vectors: bytes
    scales: bytes | None

    @property
    def nbytes(self) -> int:
        return len(self.vectors) + len(self.scales or b"")


def encode_tokens(matrix: Vector, precision: TokenPrecision) -> EncodedTokens:
    matrix = np.ascontiguousarray(matrix, dtype=np.float32)
    if matrix.ndim != 2:
        raise ValueError(f"token vectors must be a 2-D matrix, got shape {matrix.shape}")
    tokens, dim = matrix.shape
    if precision == "fp16":
        return EncodedTokens("fp16", tokens, dim, matrix.astype(np.float16).tobytes(), None)
    if precision == "int8":
        peak = np.abs(matrix).max(axis=1, keepdims=True) if tokens else np.zeros((0, 1))
        scales = np.where(peak > 0, peak / 127.0, 1.0).astype(np.float32)
        codes = np.clip(np.rint(matrix / scales), -127, 127).astype(np.int8)
        return EncodedTokens("int8", tokens, dim, codes.tobytes(), scales.tobytes())
    raise ValueError(f"unknown token precision {precision!r}; choose one of {PRECISIONS}")


def decode_tokens(encoded: EncodedTokens) -> Vector:
    """Back to float32 (tokens × dim); the inverse of `encode_tokens` up to rounding."""
    shape = (encoded.tokens, encoded.dim)
    if encoded.precision == "fp16":
        return np.frombuffer(encoded.vectors, dtype=np.float16).reshape(shape).astype(np.float32)
    if encoded.precision == "int8":
        if encoded.scales is None:
            raise ValueError("int8 token vectors need their per-row scales")
        codes = np.frombuffer(encoded.vectors, dtype=np.int8).reshape(shape)
        scales = np.frombuffer(encoded.scales, dtype=np.float32).reshape(encoded.tokens, 1)
        # float32(code) * scale, as `codes.astype(np.float32) * scales` computes it, in one
        # array: ~30 % less time than the mixed-type product (a search's 50 misses).
        decoded: Vector = np.empty(shape, dtype=np.float32)
        np.copyto(decoded, codes, casting="unsafe")
        np.multiply(decoded, scales, out=decoded)
        return decoded
    raise ValueError(f"unknown token precision {encoded.precision!r}")
