"""OpenVinoSentenceEncoder: a sentence-transformers pipeline's encoder run by OpenVINO.

Covers the common pipeline shape, Transformer → Pooling (mean, cls or max) →
optional Normalize: the transformer goes to OpenVINO (`bot.runtime`), tokenisation
(`FastTokenizer`) and pooling stay here. `export` needs the sentence-transformers model
(torch); its result is kept on disk (`bot.inference.openvino_cache`), so later starts
build the encoder `from_ready` without torch.

Anything else (dense layers, prompts, other pooling modes) is
refused with ConfigurationError so the caller keeps the torch path.

Texts are tokenised once without padding, sorted by length and cut into batches of
about `batch_token_budget` padded tokens: little padding, and small batches keep
the CPU plugin fast.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from bot.domain import Vector
from bot.errors import ConfigurationError
from bot.inference.batching import length_sorted_batches, pad_batch
from bot.inference.fast_tokenizer import FastTokenizer
from bot.inference.openvino_cache import ExportedModel, ReadyModel
from bot.inference.runtime import OpenVinoModel, trace_to_openvino

if TYPE_CHECKING:
    import torch
    from sentence_transformers import SentenceTransformer

_POOLING_MODES = ("mean", "cls", "max")


class OpenVinoSentenceEncoder:
    def __init__(
        self,
        model: OpenVinoModel,
        tokenizer: FastTokenizer,
        pooling: str,
        dimension: int,
        *,
        batch_size: int = 32,
        batch_token_budget: int = 2048,
    ) -> None:
        if pooling not in _POOLING_MODES:
            raise ConfigurationError(f"OpenVINO path has no {pooling!r} pooling")
        self._model = model
        self.tokenizer = tokenizer
        self._pooling = pooling
        self.dimension = dimension
        self.max_length = tokenizer.max_length
        self._batch_size = batch_size
        self._budget = max(batch_token_budget, tokenizer.max_length)

    @classmethod
    def from_ready(cls, ready: ReadyModel, batch_size: int) -> OpenVinoSentenceEncoder:
        """From a compiled model and the meta `export` recorded (cached or fresh)."""
        meta = ready.meta
        return cls(
            ready.model,
            ready.tokenizer,
            str(meta["pooling"]),
            int(meta["dimension"]),
            batch_size=batch_size,
        )

    @staticmethod
    def export(st_model: SentenceTransformer) -> ExportedModel:
        """The pipeline's transformer traced to OpenVINO, with what pooling needs.

        Raises ConfigurationError for pipelines this encoder does not reproduce.
        """
        modules = list(st_model)
        names = [type(module).__name__ for module in modules]
        if names[:2] != ["Transformer", "Pooling"] or any(n != "Normalize" for n in names[2:]):
            raise ConfigurationError(f"OpenVINO path supports Transformer → Pooling, not {names}")
        pooling = _pooling_mode(modules[1])
        if pooling not in _POOLING_MODES:
            raise ConfigurationError(f"OpenVINO path has no {pooling!r} pooling")
        if getattr(modules[1], "include_prompt", True) is False:
            raise ConfigurationError("OpenVINO path does not handle prompt-excluding pooling")
        transformer = modules[0]
        hf_model = cast("torch.nn.Module", getattr(transformer, "model", None))
        hf_model = hf_model or cast("torch.nn.Module", transformer.auto_model)
        hf_tokenizer = st_model.tokenizer
        max_length = int(st_model.max_seq_length or hf_tokenizer.model_max_length)
        tokenizer = FastTokenizer.from_hf(hf_tokenizer, max_length)
        sample = pad_batch(dict(tokenizer.encode(["warm up", "a"])), [0, 1], tokenizer.pad_id)
        getter = (
            getattr(st_model, "get_embedding_dimension", None)
            or st_model.get_sentence_embedding_dimension
        )
        meta = {"pooling": pooling, "max_length": max_length, "dimension": int(getter() or 0)}
        return ExportedModel(trace_to_openvino(hf_model, sample), tokenizer, meta)

    def encode(self, texts: Sequence[str], *, with_tokens: bool) -> tuple[Vector, list[Vector]]:
        """L2-normalised sentence vectors, and (if asked) each text's raw token vectors."""
        features = self.tokenizer.encode(texts)
        lengths = [len(ids) for ids in features["input_ids"]]
        pad_id = self.tokenizer.pad_id
        sentences = np.empty((len(texts), 0), dtype=np.float32)
        tokens: list[Vector] = [np.empty(0, dtype=np.float32)] * len(texts) if with_tokens else []
        for batch in self._batches(lengths):
            hidden = self._model.run(pad_batch(features, batch, pad_id))  # (rows, width, dim)
            if sentences.shape[1] == 0:
                sentences = np.empty((len(texts), hidden.shape[2]), dtype=np.float32)
            mask = (
                np.arange(hidden.shape[1])[None, :]
                < np.asarray([lengths[i] for i in batch])[:, None]
            )
            sentences[batch] = self._pool(hidden, mask)
            if with_tokens:
                for row, index in enumerate(batch):
                    tokens[index] = hidden[row, : lengths[index]].copy()
        sentences /= np.maximum(np.linalg.norm(sentences, axis=1, keepdims=True), 1e-12)
        return sentences, tokens

    def _pool(self, hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
        if self._pooling == "cls":
            return hidden[:, 0]
        if self._pooling == "max":
            return np.where(mask[:, :, None], hidden, -np.inf).max(axis=1)
        weights = mask[:, :, None].astype(np.float32)
        return (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)

    def _batches(self, lengths: Sequence[int]) -> list[list[int]]:
        return length_sorted_batches(
            lengths, max_rows=self._batch_size, max_padded_tokens=self._budget
        )


def _pooling_mode(pooling: Any) -> str:
    """The pooling mode across sentence-transformers versions (str in v6, flags before)."""
    mode = getattr(pooling, "pooling_mode", None)
    if isinstance(mode, str):
        return mode
    getter = getattr(pooling, "get_pooling_mode_str", None)
    return str(getter()) if getter is not None else "unknown"
