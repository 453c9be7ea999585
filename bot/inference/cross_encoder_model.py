"""CrossEncoderModel: a sentence-transformers CrossEncoder's tokenizer and activation
around a faster runtime (`encoder_runtime`): tokenise once, pad per batch, score.

The reranker decides batching and which runtime; this runs the pairs through it. The
tokenizer is the Rust backend (`FastTokenizer`) and the activation is applied in numpy
when it is a sigmoid or the identity, so a model loaded from the disk cache scores
without torch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from bot.errors import ConfigurationError
from bot.inference.batching import pad_batch
from bot.inference.encoder_runtime import EncoderRuntime
from bot.inference.fast_tokenizer import FastTokenizer

if TYPE_CHECKING:
    import torch
    from sentence_transformers import CrossEncoder


class CrossEncoderModel:
    """The tokenizer, the runtime that scores, and the CrossEncoder's output activation:
    "sigmoid" or "identity" (both cacheable), or a torch callable for anything else."""

    def __init__(
        self,
        runtime: EncoderRuntime,
        tokenizer: FastTokenizer,
        activation: str | Callable[..., torch.Tensor],
    ) -> None:
        self.runtime = runtime
        self.tokenizer = tokenizer
        self.activation = activation

    def score_pairs(
        self, query: str, texts: list[str], batches: Callable[[Sequence[int]], list[list[int]]]
    ) -> np.ndarray:
        features = self.tokenizer.encode_pairs([query] * len(texts), texts)
        lengths = [len(ids) for ids in features["input_ids"]]
        logits = np.empty(len(texts), dtype=np.float32)
        for batch in batches(lengths):
            logits[batch] = self.runtime.logits(pad_batch(features, batch, self.tokenizer.pad_id))
        if self.activation == "identity":
            return logits
        if self.activation == "sigmoid":
            return np.asarray(1.0 / (1.0 + np.exp(-logits)), dtype=np.float32)
        import torch

        assert callable(self.activation)
        return self.activation(torch.from_numpy(logits)).numpy()


def load_cross_encoder(model_id: str, max_length: int, device: str) -> CrossEncoder:
    from sentence_transformers import CrossEncoder

    try:
        cross_encoder = CrossEncoder(model_id, max_length=max_length, device=device)
    except Exception as exc:
        raise ConfigurationError(
            f"cannot load cross-encoder model {model_id!r}: {exc}. Set "
            "SUPPORTBOT_RERANKER_MODEL to a local model folder or a hub id available "
            "offline, or choose another SUPPORTBOT_RERANKER (late-interaction, none)."
        ) from exc
    if cross_encoder.num_labels != 1:
        raise ConfigurationError(
            f"model {model_id!r} has {cross_encoder.num_labels} output labels; a reranker "
            "needs a cross-encoder with one relevance score (num_labels=1)"
        )
    return cross_encoder


def activation_name(cross_encoder: CrossEncoder) -> str | None:
    """The CrossEncoder's output activation by name, when numpy can apply it exactly."""
    if cross_encoder.activation_fn is None:
        return "identity"
    name = type(cross_encoder.activation_fn).__name__
    return {"Sigmoid": "sigmoid", "Identity": "identity"}.get(name)
