"""QuantizedCrossEncoderReranker: the cross-encoder of `CrossEncoderReranker`, made fast on CPU.

Same model, same input text (`rerank_text`), same output activation, so its scores are
interchangeable with the plain reranker's. What changes is how the work is done:

* a faster runtime (`bot.runtime`): OpenVINO on CPU when installed, else
  torch; at reduced precision where the CPU multiplies bf16 natively (Intel AMX /
  AVX512-BF16), torch int8 dynamic quantisation on request (see `bot.precision`);
* every pair is tokenised once, without padding, then sorted by token length and cut
  into batches bounded by a padded-token budget suited to the runtime, so padding
  stays small;
* torch and OpenVINO get one thread per available CPU;
* with `cache_dir`, the OpenVINO model is converted once and kept on disk: later starts
  load it without importing torch or sentence-transformers.

Faithfulness and speed against plain sentence-transformers: benchmarks/rerank.py.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, cast

from bot.domain import Chunk
from bot.errors import ConfigurationError, RerankError
from bot.inference.batching import length_sorted_batches, pad_batch
from bot.inference.cross_encoder_model import (
    CrossEncoderModel,
    activation_name,
    load_cross_encoder,
)
from bot.inference.devices import configure_torch_threads, default_device
from bot.inference.fast_tokenizer import FastTokenizer
from bot.inference.model_cache import ModelCache
from bot.inference.openvino_cache import ExportedModel, cache_key, keep, load_cached
from bot.inference.openvino_runtime import OpenVinoRuntime
from bot.inference.precision import Precision, ResolvedPrecision, resolve_precision
from bot.inference.runtime import ResolvedRuntime, RuntimeName, resolve_runtime, trace_to_openvino
from bot.inference.torch_runtime import TorchRuntime
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
        cache_dir: Path | None = None,
    ) -> None:
        """`max_batch_tokens` bounds batch × longest sequence (default: the runtime's best);
        `cache_dir` keeps the converted OpenVINO model on disk (None: convert each start)."""
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
        self._cache = ModelCache(cache_dir) if cache_dir is not None else None
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
                self._loaded = self._load_from_cache(device) or self._load_with_torch(device)
                logger.info(
                    "cross-encoder %s loaded on %s: %s at %s",
                    self.model_id,
                    device,
                    self.runtime,
                    self.precision,
                )
            return self._loaded

    def _load_from_cache(self, device: str) -> CrossEncoderModel | None:
        """The converted OpenVINO model from the disk cache: no torch import at all."""
        if self.runtime != "openvino" or device != "cpu":
            return None
        key = cache_key(self._cache, "cross-encoder", self.model_id, self.model_id)
        ready = load_cached(self._cache, key, self.precision, self.max_length)
        if ready is None:
            return None
        runtime = OpenVinoRuntime(ready.model)
        return CrossEncoderModel(runtime, ready.tokenizer, ready.meta["activation"])

    def _load_with_torch(self, device: str) -> CrossEncoderModel:
        """Load with sentence-transformers, then convert (and cache) or prepare for torch."""
        if device == "cpu":
            configure_torch_threads()
        cross_encoder = load_cross_encoder(self.model_id, self.max_length, device)
        hf_model = cast("torch.nn.Module", cross_encoder.model)
        tokenizer = FastTokenizer.from_hf(cross_encoder.tokenizer, self.max_length)
        features = tokenizer.encode_pairs(["warm up"] * 2, ["a short passage", "b"])
        sample = pad_batch(dict(features), [0, 1], tokenizer.pad_id)
        activation = activation_name(cross_encoder)
        if self.runtime == "openvino":
            try:
                if activation is None:
                    raise ConfigurationError(
                        f"OpenVINO path has no {type(cross_encoder.activation_fn).__name__} "
                        "activation"
                    )
                graph = trace_to_openvino(hf_model, sample)
                key = cache_key(self._cache, "cross-encoder", self.model_id, self.model_id)
                exported = ExportedModel(graph, tokenizer, {"activation": activation})
                ready = keep(self._cache, key, exported, self.precision)
                return CrossEncoderModel(OpenVinoRuntime(ready.model), tokenizer, activation)
            except ConfigurationError as exc:
                if self._requested_runtime != "auto":
                    raise
                logger.warning("%s; running the cross-encoder in torch instead", exc.message)
                self.runtime = "torch"
                self.name = self._name()
        runtime = TorchRuntime.prepare(hf_model, self.precision, device)
        return CrossEncoderModel(
            runtime, tokenizer, activation or cross_encoder.activation_fn or "identity"
        )

    def _settle_for(self, device: str) -> None:
        """Re-resolve `auto` choices once the device is known (a GPU found at load time)."""
        if device.startswith("cpu"):
            return
        if self._requested_precision == "auto":
            self.precision = resolve_precision("auto", device)
        if self._requested_runtime == "auto":
            self.runtime = "torch"
        self.name = self._name()
