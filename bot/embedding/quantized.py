"""ReducedPrecisionEmbedder: SentenceTransformerEmbedder made fast on CPU.

Same model id, same vectors up to rounding (cosine ≥ 0.99 against fp32 is tested), so
an index built one way is queried another without re-ingesting. Two levers:

* runtime: OpenVINO on CPU when installed and the pipeline is Transformer → Pooling
  (→ Normalize) (`bot.inference.openvino_encoder`), else torch;
* precision: bf16 on CPUs with native bf16 (Intel AMX / AVX512-BF16), fp32 elsewhere;
  torch int8 dynamic quantisation on request.

With `cache_dir`, the OpenVINO model is converted once and kept on disk: later starts
load it without importing torch or sentence-transformers (`bot.inference.openvino_cache`).

See `bot.inference.precision`, `bot.inference.runtime` and benchmarks/README.md.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from bot.domain import Vector
from bot.embedding.recent_queries import RecentQueries
from bot.embedding.sentence_transformer import SentenceTransformerEmbedder
from bot.errors import ConfigurationError
from bot.inference.devices import available_cpus, default_device, load_per_cpu
from bot.inference.fast_tokenizer import FastTokenizer
from bot.inference.model_cache import ModelCache
from bot.inference.openvino_cache import cache_key, keep, load_cached
from bot.inference.openvino_encoder import OpenVinoSentenceEncoder
from bot.inference.precision import Precision, ResolvedPrecision, apply_precision, resolve_precision
from bot.inference.runtime import ResolvedRuntime, RuntimeName, resolve_runtime

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

logger = logging.getLogger(__name__)


class ReducedPrecisionEmbedder(SentenceTransformerEmbedder):
    def __init__(
        self,
        model_id: str,
        batch_size: int = 32,
        device: str | None = None,
        *,
        precision: Precision = "auto",
        runtime: RuntimeName = "auto",
        cache_dir: Path | None = None,
        query_threads: int = 0,
        query_busy_load: float = 1.0,
    ) -> None:
        """`cache_dir` keeps the converted OpenVINO model on disk (None: convert each start).

        `query_threads` (OpenVINO with a `cache_dir`): a second compiled copy of the model
        with this many inference threads encodes single texts (search queries) while the
        machine is busy (1-minute load average per CPU at or over `query_busy_load`), so a
        query does not fight BM25 and other requests for every core; below it the CPUs
        have room and the query gets all of them. Same vectors either way; 0: no copy."""
        super().__init__(model_id, batch_size=batch_size, device=device)
        self.precision: ResolvedPrecision = resolve_precision(precision, device or "cpu")
        self.runtime: ResolvedRuntime = resolve_runtime(runtime, device or "cpu", self.precision)
        self._requested_runtime = runtime
        self._requested_precision = precision
        self._cache = ModelCache(cache_dir) if cache_dir is not None else None
        self._converted = False
        self._prepared = False
        self._prepare_lock = threading.Lock()
        self._openvino: OpenVinoSentenceEncoder | None = None
        self._query_threads = query_threads
        self._openvino_query: OpenVinoSentenceEncoder | None = None
        self._query_busy_load = query_busy_load
        self._cpus = available_cpus()
        self._idle_queries = 0
        self._batch_key: str | None = None
        """Set while the all-threads copy waits for its first batch (see `_prepare`)."""
        self._batch_lock = threading.Lock()
        self._recent = RecentQueries()

    def warm_up(self) -> None:
        self._prepare()

    def _prepare(self) -> None:
        """OpenVINO from the disk cache when it is there (no torch import), else as below."""
        with self._prepare_lock:
            if self._prepared:
                return
            if self.runtime == "openvino" and (self._device or default_device()) == "cpu":
                key = cache_key(self._cache, "embedder", self.model_id, self._path)
                copy = 0 < self._query_threads < available_cpus()
                # From a warm cache with a query copy, only that copy is compiled now: a
                # search or a server's start never waits for the all-threads one, which
                # compiles at the first batch (an ingest); ~0.15 s of CPU a start.
                query_ready = (
                    load_cached(self._cache, key, self.precision, threads=self._query_threads)
                    if copy
                    else None
                )
                if query_ready is not None:
                    self._openvino_query = OpenVinoSentenceEncoder.from_ready(query_ready, 1)
                    self._batch_key = key
                elif (ready := load_cached(self._cache, key, self.precision)) is not None:
                    self._openvino = OpenVinoSentenceEncoder.from_ready(ready, self._batch_size)
                else:
                    self._openvino = self._to_openvino(self._load(), key)
                    if self._openvino is not None and copy:
                        query_ready = load_cached(
                            self._cache,
                            key,
                            self.precision,
                            threads=self._query_threads,
                            tokenizer=self._openvino.tokenizer,
                        )
                        if query_ready is not None:
                            self._openvino_query = OpenVinoSentenceEncoder.from_ready(
                                query_ready, 1
                            )
            else:
                self._load()
            self._prepared = True

    def _load(self) -> SentenceTransformer:
        """The sentence-transformers model (torch), settled for the device it landed on."""
        model = super()._load()
        with self._lock:
            if not self._converted:
                on_cpu = str(model.device).startswith("cpu")
                if not on_cpu:  # a GPU found at load time: `auto` means torch there, fp32
                    if self._requested_runtime == "auto":
                        self.runtime = "torch"
                    if self._requested_precision == "auto":
                        self.precision = resolve_precision("auto", str(model.device))
                if self.runtime != "openvino":
                    converted = apply_precision(model, self.precision)
                    self._model = model = converted  # type: ignore[assignment]
                self._converted = True
        return model

    def _to_openvino(
        self, model: SentenceTransformer, key: str | None
    ) -> OpenVinoSentenceEncoder | None:
        if self.runtime != "openvino":  # the model landed on a GPU
            return None
        try:
            exported = OpenVinoSentenceEncoder.export(model)
            ready = keep(self._cache, key, exported, self.precision)
            return OpenVinoSentenceEncoder.from_ready(ready, self._batch_size)
        except ConfigurationError as exc:
            if self._requested_runtime == "openvino":
                raise
            logger.warning("%s; embedding with torch instead", exc.message)
            self.runtime = "torch"
            with self._lock:
                self._model = apply_precision(model, self.precision)  # type: ignore[assignment]
            return None

    def _batch_encoder(self) -> OpenVinoSentenceEncoder | None:
        """The all-threads copy, compiled at the first call when `_prepare` deferred it
        (its own lock: queries on the query copy don't wait for it). Should the cache entry
        have gone meanwhile, batches run on the query copy."""
        if self._batch_key is not None:
            with self._batch_lock:
                if self._batch_key is not None:
                    query = self._openvino_query
                    assert query is not None
                    ready = load_cached(
                        self._cache, self._batch_key, self.precision, tokenizer=query.tokenizer
                    )
                    self._openvino = (
                        OpenVinoSentenceEncoder.from_ready(ready, self._batch_size)
                        if ready is not None
                        else query
                    )
                    self._batch_key = None
        return self._openvino

    def _single_text_encoder(self) -> OpenVinoSentenceEncoder | None:
        """The one-thread copy while the CPUs are busy, the all-threads model while not.

        On two idle cores a short question takes ~8 ms on both and ~14 ms on one; at load
        11-17 the copy was 30 ms faster (benchmarks/README.md, "/v1/search latency"). The
        all-threads model compiles at the first batch (`_batch_encoder`); a process that
        asks a second question on idle CPUs (a server, not a one-off CLI search) compiles
        it in the background, and its queries take it once it is there."""
        if self._openvino_query is None:
            return self._batch_encoder()
        load = load_per_cpu(self._cpus)
        if load is None or load >= self._query_busy_load:
            return self._openvino_query
        if self._openvino is not None:
            return self._openvino
        self._idle_queries += 1
        if self._idle_queries == 2:
            threading.Thread(target=self._batch_encoder, name="embedder-all-threads").start()
        return self._openvino_query

    @property
    def _any_openvino(self) -> OpenVinoSentenceEncoder | None:
        """Either copy: same model, same tokenizer."""
        return self._openvino or self._openvino_query

    # -- what the torch model answered, from the OpenVINO encoder when there is one --------
    @property
    def dimension(self) -> int:
        self._prepare()
        encoder = self._any_openvino
        return encoder.dimension if encoder is not None else super().dimension

    @property
    def max_seq_length(self) -> int:
        self._prepare()
        encoder = self._any_openvino
        return encoder.max_length if encoder is not None else super().max_seq_length

    @property
    def fast_tokenizer(self) -> FastTokenizer | None:
        self._prepare()
        encoder = self._any_openvino
        return encoder.tokenizer if encoder is not None else None

    def count_tokens(self, text: str) -> int:
        if (encoder := self._any_openvino) is not None:
            return encoder.tokenizer.count(text)
        return super().count_tokens(text)

    def embed_documents(self, texts: Sequence[str]) -> Vector:
        self._prepare()
        encoder = self._batch_encoder()
        if encoder is None or not texts:
            return super().embed_documents(texts)
        return encoder.encode(texts, with_tokens=False)[0]

    def embed_query(self, text: str) -> Vector:
        """One pass gives the query's sentence and token vectors; both are kept a while, so
        late-interaction reranking of the same query does not encode it again."""
        sentences, _ = self.embed_documents_with_tokens([text])
        return sentences[0]

    def embed_documents_with_tokens(self, texts: Sequence[str]) -> tuple[Vector, list[Vector]]:
        if len(texts) == 1 and (known := self._recent.get(texts[0])) is not None:
            return known
        self._prepare()
        encoder = self._single_text_encoder() if len(texts) == 1 else self._batch_encoder()
        if encoder is None or not texts:
            sentences, tokens = super().embed_documents_with_tokens(texts)
        else:
            sentences, tokens = encoder.encode(texts, with_tokens=True)
        sentences = sentences.astype(np.float32)
        if len(texts) == 1:
            self._recent.put(texts[0], sentences, tokens)
        return sentences, tokens
