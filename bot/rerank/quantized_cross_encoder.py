"""QuantizedCrossEncoderReranker: the cross-encoder of `CrossEncoderReranker`, made fast on CPU.

Same model, same input text (`rerank_text`), same output activation, so its scores are
interchangeable with the plain reranker's. What changes is how the work is done:

* a faster runtime (`bot.inference.runtime`): OpenVINO on CPU when installed, else
  torch; at reduced precision where the CPU multiplies bf16 natively (Intel AMX /
  AVX512-BF16), torch int8 dynamic quantisation on request (see `bot.inference.precision`);
* every pair is tokenised once, without padding, then sorted by token length and cut
  into batches bounded by a padded-token budget suited to the runtime, so padding
  stays small;
* torch and OpenVINO get one thread per available CPU.

Faithfulness and speed against plain sentence-transformers: benchmarks/rerank.py.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from bot.domain import Chunk
from bot.errors import ConfigurationError, RerankError
from bot.inference.batching import length_sorted_batches
from bot.inference.cross_encoder_model import CrossEncoderModel
from bot.inference.devices import configure_torch_threads, default_device
from bot.inference.encoder_runtime import EncoderRuntime, load_runtime
from bot.inference.precision import Precision, ResolvedPrecision, resolve_precision
from bot.inference.runtime import ResolvedRuntime, RuntimeName, resolve_runtime
from bot.rerank.inputs import rerank_text

if TYPE_CHECKING:
    import torch

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
        runtime: RuntimeName = "auto",
        max_batch_tokens: int | None = None,
    ) -> None:
        """`max_batch_tokens` bounds batch × longest sequence (default: the runtime's best)."""
        if max_length < 8:
            raise ConfigurationError(f"reranker max_length must be at least 8, got {max_length}")
        if batch_size < 1:
            raise ConfigurationError(f"reranker batch_size must be at least 1, got {batch_size}")
        if max_batch_tokens is not None and max_batch_tokens < max_length:
            raise ConfigurationError(
                f"max_batch_tokens ({max_batch_tokens}) must hold one sequence ({max_length})"
            )
        self.model_id = model_id
        self.max_length = max_length
        self.batch_size = batch_size
        self._max_batch_tokens = max_batch_tokens
        self._device = device
        self.precision: ResolvedPrecision = resolve_precision(precision, device or "cpu")
        self.runtime: ResolvedRuntime = resolve_runtime(runtime, device or "cpu", self.precision)
        self._requested_runtime = runtime
        self._requested_precision = precision
        self.name = self._name()
        self._loaded: CrossEncoderModel | None = None
        self._load_lock = threading.Lock()
        self._score_lock = threading.Lock()

    def _name(self) -> str:
        """Cache-key name: what computes the scores (fp32 torch shares plain's entries)."""
        base = f"cross-encoder:{self.model_id}:{self.max_length}"
        if self.runtime == "openvino":
            return f"{base}:openvino-{self.precision}"
        return base if self.precision == "fp32" else f"{base}:{self.precision}"

    @property
    def max_batch_tokens(self) -> int:
        if self._max_batch_tokens is not None:
            return self._max_batch_tokens
        budget = self._load().runtime.batch_token_budget
        return max(budget, self.max_length)

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
        return length_sorted_batches(
            lengths, max_rows=self.batch_size, max_padded_tokens=self.max_batch_tokens
        )

    def _load(self) -> CrossEncoderModel:
        with self._load_lock:
            if self._loaded is None:
                device = self._device or default_device()
                self._settle_for(device)
                if self.precision == "int8" and device != "cpu":
                    raise ConfigurationError("int8 cross-encoder runs on CPU; set device='cpu'")
                if device == "cpu":
                    configure_torch_threads()
                self._loaded = CrossEncoderModel.load(
                    self.model_id,
                    self.max_length,
                    device,
                    functools.partial(self._build_runtime, device=device),
                )
                logger.info(
                    "cross-encoder %s loaded on %s: %s at %s",
                    self.model_id,
                    device,
                    self.runtime,
                    self.precision,
                )
            return self._loaded

    def _settle_for(self, device: str) -> None:
        """Re-resolve `auto` choices once the device is known (a GPU found at load time)."""
        if device.startswith("cpu"):
            return
        if self._requested_precision == "auto":
            self.precision = resolve_precision("auto", device)
        if self._requested_runtime == "auto":
            self.runtime = "torch"
        self.name = self._name()

    def _build_runtime(
        self, model: torch.nn.Module, sample: dict[str, np.ndarray], device: str
    ) -> EncoderRuntime:
        """The configured runtime; under `auto`, a model OpenVINO cannot convert runs in torch."""
        try:
            return load_runtime(self.runtime, model, self.precision, device, sample)
        except ConfigurationError as exc:
            if self.runtime != "openvino" or self._requested_runtime != "auto":
                raise
            logger.warning("%s; running the cross-encoder in torch instead", exc.message)
            self.runtime = "torch"
            self.name = self._name()
            return load_runtime("torch", model, self.precision, device, sample)
