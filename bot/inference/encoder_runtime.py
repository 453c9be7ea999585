"""How a cross-encoder's forward pass runs: the runtime protocol.

The reranker tokenises, sorts and pads; a runtime only turns a padded batch of token
ids into one relevance logit per row. Both runtimes (torch, OpenVINO; see `bot.inference.runtime`)
start from the Hugging Face sequence-classification module that sentence-transformers
loaded, so they score the same model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    pass


class EncoderRuntime(Protocol):
    batch_token_budget: int
    """Padded tokens (rows × longest row) per forward pass that run fastest here."""

    def logits(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        """One fp32 logit per row of a right-padded int64 batch."""
        ...
