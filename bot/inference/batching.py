"""Length-sorted batching for the local transformer models (cross-encoder, embedder).

Texts are tokenised once without padding; batches then group similar lengths, so each
is padded only to its own longest row, and a padded-token budget (rows × longest row)
keeps every forward pass the size the runtime runs fastest.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def length_sorted_batches(
    lengths: Sequence[int], *, max_rows: int, max_padded_tokens: int
) -> list[list[int]]:
    """Indices shortest first, cut so no batch exceeds `max_rows` or the token budget."""
    batches: list[list[int]] = []
    current: list[int] = []
    for index in np.argsort(np.asarray(lengths), kind="stable").tolist():
        longest = lengths[index]  # ascending order: the newest is the longest
        if current and (
            len(current) >= max_rows or (len(current) + 1) * longest > max_padded_tokens
        ):
            batches.append(current)
            current = []
        current.append(index)
    if current:
        batches.append(current)
    return batches


def pad_batch(features: dict[str, Any], batch: list[int], pad_id: int) -> dict[str, np.ndarray]:
    """Right-pad the rows `batch` of tokenizer output into int64 arrays (pad id for
    input_ids, 0 for attention masks and token types)."""
    width = max(len(features["input_ids"][i]) for i in batch)
    arrays = {}
    for key, rows in features.items():
        array = np.full((len(batch), width), pad_id if key == "input_ids" else 0, dtype=np.int64)
        for row, index in enumerate(batch):
            values = rows[index]
            array[row, : len(values)] = values
        arrays[key] = array
    return arrays
