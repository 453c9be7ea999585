"""QuantizedCrossEncoderReranker: the cross-encoder of `CrossEncoderReranker`, made fast on CPU.

Same model, same input text (`rerank_text`), same output activation, so its scores are
interchangeable with the plain reranker's. What changes is how the work is done:

* reduced precision: bf16 weights where the CPU multiplies bf16 natively (Intel AMX /
  AVX512-BF16), int8 dynamic quantisation on request (see `bot.precision`); the
  classification head stays fp32 so close scores do not collapse into bf16 ties;
* every pair is tokenised once, without padding, then sorted by token length and cut
  into batches bounded by a padded-token budget, so padding stays near zero;
* torch gets one intra-op thread per available CPU.

Faithfulness and speed against plain sentence-transformers: benchmarks/rerank.py.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from bot.domain import Chunk
from bot.errors import ConfigurationError, RerankError
from bot.precision import Precision, ResolvedPrecision, apply_precision, resolve_precision
from bot.rerank.cross_encoder import configure_torch_threads, default_device
from bot.rerank.inputs import rerank_text

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedTokenizerBase

logger = logging.getLogger(__name__)


class QuantizedCrossEncoderReranker:
    def __init__(
        self,
        model_id: str,
        *,
        max_length: int = 256,
        batch_size: int = 64,
        device: str | None = None,
        precision: Precision = "auto",
        max_batch_tokens: int = 16384,
    ) -> None:
        """`max_batch_tokens` bounds batch × longest sequence, keeping attention memory flat."""
        if max_length < 8:
            raise ConfigurationError(f"reranker max_length must be at least 8, got {max_length}")
        if batch_size < 1:
            raise ConfigurationError(f"reranker batch_size must be at least 1, got {batch_size}")
        if max_batch_tokens < max_length:
            raise ConfigurationError(
                f"max_batch_tokens ({max_batch_tokens}) must hold one sequence ({max_length})"
            )
        self.model_id = model_id
        self.max_length = max_length
        self.batch_size = batch_size
        self.max_batch_tokens = max_batch_tokens
        self._device = device
        self.precision: ResolvedPrecision = resolve_precision(precision, device or "cpu")
        suffix = "" if self.precision == "fp32" else f":{self.precision}"
        # fp32 computes what CrossEncoderReranker does, so it shares its cache entries.
        self.name = f"cross-encoder:{model_id}:{max_length}{suffix}"
        self._loaded: _LoadedModel | None = None
        self._load_lock = threading.Lock()
        self._score_lock = threading.Lock()

    def warm_up(self) -> None:
        self._load()

    def score(self, query: str, chunks: Sequence[Chunk]) -> list[float]:
        if not chunks:
            return []
        loaded = self._load()
        try:
            with self._score_lock:
                scores = loaded.score_pairs(
                    query, [rerank_text(chunk) for chunk in chunks], self._batches
                )
        except Exception as exc:
            raise RerankError(f"cross-encoder {self.model_id!r} failed: {exc}") from exc
        return [float(value) for value in scores]

    def _batches(self, lengths: Sequence[int]) -> list[list[int]]:
        """Pair indices grouped shortest first; each batch within both size bounds."""
        batches: list[list[int]] = []
        current: list[int] = []
        for index in np.argsort(np.asarray(lengths), kind="stable").tolist():
            longest = lengths[index]  # ascending order: the newest is the longest
            if current and (
                len(current) >= self.batch_size
                or (len(current) + 1) * longest > self.max_batch_tokens
            ):
                batches.append(current)
                current = []
            current.append(index)
        if current:
            batches.append(current)
        return batches

    def _load(self) -> _LoadedModel:
        with self._load_lock:
            if self._loaded is None:
                device = self._device or default_device()
                if self.precision == "int8" and device != "cpu":
                    raise ConfigurationError("int8 cross-encoder runs on CPU; set device='cpu'")
                if device == "cpu":
                    configure_torch_threads()
                self._loaded = _LoadedModel.load(self.model_id, self.max_length, device)
                self._loaded.convert(self.precision)
                logger.info(
                    "cross-encoder %s loaded on %s at %s", self.model_id, device, self.precision
                )
            return self._loaded


class _LoadedModel:
    """The transformer, its tokenizer and output activation, taken from a CrossEncoder."""

    def __init__(
        self,
        model: torch.nn.Module,
        tokenizer: PreTrainedTokenizerBase,
        activation: Callable[[torch.Tensor], torch.Tensor] | None,
        max_length: int,
        device: str,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.activation = activation
        self.max_length = max_length
        self.device = device

    @classmethod
    def load(cls, model_id: str, max_length: int, device: str) -> _LoadedModel:
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
        model = cross_encoder.model.eval()
        return cls(model, cross_encoder.tokenizer, cross_encoder.activation_fn, max_length, device)

    def convert(self, precision: ResolvedPrecision) -> None:
        """Lower the encoder's precision; the pooler and classifier head stay fp32."""
        import torch

        self.model = apply_precision(self.model, precision)
        if precision != "bf16":
            return
        for head in _head_modules(self.model):
            head.to(torch.float32)
            head.register_forward_pre_hook(_inputs_to_fp32)

    def score_pairs(
        self, query: str, texts: list[str], batches: Callable[[Sequence[int]], list[list[int]]]
    ) -> np.ndarray:
        import torch

        encoded = self.tokenizer(
            [query] * len(texts), texts, truncation=True, max_length=self.max_length
        )
        features = {key: list(values) for key, values in encoded.items()}
        lengths = [len(ids) for ids in features["input_ids"]]
        scores = np.empty(len(texts), dtype=np.float32)
        pad_id = self.tokenizer.pad_token_id or 0
        with torch.inference_mode():
            for batch in batches(lengths):
                inputs = _padded(features, batch, pad_id, self.device)
                logits = self.model(**inputs).logits.float()
                if self.activation is not None:
                    logits = self.activation(logits)
                scores[batch] = logits.reshape(-1).cpu().numpy()
        return scores


def _padded(
    features: dict[str, list[Any]], batch: list[int], pad_id: int, device: str
) -> dict[str, torch.Tensor]:
    """Right-pad one batch into tensors (padding id for input_ids, 0 elsewhere)."""
    import torch

    width = max(len(features["input_ids"][i]) for i in batch)
    tensors = {}
    for key, rows in features.items():
        array = np.full((len(batch), width), pad_id if key == "input_ids" else 0, dtype=np.int64)
        for row, index in enumerate(batch):
            values = rows[index]
            array[row, : len(values)] = values
        tensors[key] = torch.from_numpy(array).to(device)
    return tensors


def _head_modules(model: torch.nn.Module) -> list[torch.nn.Module]:
    """The sequence-classification head (and the base model's pooler, where there is one)."""
    heads = []
    for owner, name in ((model, "classifier"), (model, "score"), (model, "pooler")):
        module = getattr(owner, name, None)
        if module is not None:
            heads.append(module)
    base = getattr(model, "base_model", None)
    pooler = getattr(base, "pooler", None) if base is not None and base is not model else None
    if pooler is not None:
        heads.append(pooler)
    return heads


def _inputs_to_fp32(_module: torch.nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...]:
    import torch

    return tuple(
        arg.float() if isinstance(arg, torch.Tensor) and arg.is_floating_point() else arg
        for arg in args
    )
