"""CrossEncoderModel: a sentence-transformers CrossEncoder's tokenizer and activation
around a faster runtime (`encoder_runtime`): tokenise once, pad per batch, score.

The reranker decides batching and which runtime; this runs the pairs through it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from bot.errors import ConfigurationError
from bot.inference.batching import pad_batch
from bot.inference.encoder_runtime import EncoderRuntime

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedTokenizerBase


class CrossEncoderModel:
    """The tokenizer and output activation of a CrossEncoder, and the runtime that scores."""

    def __init__(
        self,
        runtime: EncoderRuntime,
        tokenizer: PreTrainedTokenizerBase,
        activation: Callable[[torch.Tensor], torch.Tensor] | None,
        max_length: int,
    ) -> None:
        self.runtime = runtime
        self.tokenizer = tokenizer
        self.activation = activation
        self.max_length = max_length

    @classmethod
    def load(
        cls,
        model_id: str,
        max_length: int,
        device: str,
        build_runtime: Callable[[torch.nn.Module, dict[str, np.ndarray]], EncoderRuntime],
    ) -> CrossEncoderModel:
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
        tokenizer = cross_encoder.tokenizer
        encoded = tokenizer(["warm up"] * 2, ["a short passage", "b"], padding=True)
        sample = {key: np.asarray(values, dtype=np.int64) for key, values in encoded.items()}
        runtime = build_runtime(cross_encoder.model, sample)
        return cls(runtime, tokenizer, cross_encoder.activation_fn, max_length)

    def score_pairs(
        self, query: str, texts: list[str], batches: Callable[[Sequence[int]], list[list[int]]]
    ) -> np.ndarray:
        encoded = self.tokenizer(
            [query] * len(texts), texts, truncation=True, max_length=self.max_length
        )
        features = {key: list(values) for key, values in encoded.items()}
        lengths = [len(ids) for ids in features["input_ids"]]
        logits = np.empty(len(texts), dtype=np.float32)
        pad_id = self.tokenizer.pad_token_id or 0
        for batch in batches(lengths):
            logits[batch] = self.runtime.logits(pad_batch(features, batch, pad_id))
        if self.activation is None:
            return logits
        import torch

        return self.activation(torch.from_numpy(logits)).numpy()
