"""How a cross-encoder's forward pass runs: the runtime protocol and its builder.

The reranker tokenises, sorts and pads; a runtime only turns a padded batch of token
ids into one relevance logit per row. Both runtimes (torch, OpenVINO; see `bot.inference.runtime`)
start from the Hugging Face sequence-classification module that sentence-transformers
loaded, so they score the same model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import numpy as np

from bot.inference.precision import ResolvedPrecision
from bot.inference.runtime import ResolvedRuntime

if TYPE_CHECKING:
    import torch


class EncoderRuntime(Protocol):
    batch_token_budget: int
    """Padded tokens (rows × longest row) per forward pass that run fastest here."""

    def logits(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        """One fp32 logit per row of a right-padded int64 batch."""
        ...


def load_runtime(
    runtime: ResolvedRuntime,
    model: torch.nn.Module,
    precision: ResolvedPrecision,
    device: str,
    sample: dict[str, np.ndarray],
) -> EncoderRuntime:
    """Build the runtime around `model`; `sample` is a small padded batch used for tracing."""
    if runtime == "openvino":
        from bot.inference.openvino_runtime import OpenVinoRuntime

        return OpenVinoRuntime.convert(model, precision, sample)
    from bot.inference.torch_runtime import TorchRuntime

    return TorchRuntime.prepare(model, precision, device)
