"""CrossEncoderReranker: a local sentence-transformers CrossEncoder (hub id or local path).

Each (query, chunk) pair goes through the model together, which is what makes a
cross-encoder more precise than the embedding similarity used for retrieval.
All candidates go in one `predict` call; sentence-transformers sorts the pairs by
length before batching (so padding stays small), runs under `torch.inference_mode`,
and returns scores in input order.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

from bot.domain import Chunk
from bot.errors import ConfigurationError, RerankError
from bot.inference.devices import configure_torch_threads, default_device
from bot.rerank.inputs import rerank_text

if TYPE_CHECKING:
    from sentence_transformers import CrossEncoder

logger = logging.getLogger(__name__)


class CrossEncoderReranker:
    def __init__(
        self,
        model_id: str,
        *,
        max_length: int = 256,
        batch_size: int = 64,
        device: str | None = None,
    ) -> None:
        if max_length < 8:
            raise ConfigurationError(f"reranker max_length must be at least 8, got {max_length}")
        if batch_size < 1:
            raise ConfigurationError(f"reranker batch_size must be at least 1, got {batch_size}")
        self.model_id = model_id
        self.max_length = max_length
        self.batch_size = batch_size
        self._device = device
        self.name = f"cross-encoder:{model_id}:{max_length}"
        self._model: CrossEncoder | None = None
        self._load_lock = threading.Lock()
        # One forward pass at a time: torch already uses every core for one batch, and a
        # fast tokenizer shared between threads raises "Already borrowed" under contention.
        self._predict_lock = threading.Lock()

    @property
    def device(self) -> str:
        return str(self._load().device)

    def warm_up(self) -> None:
        self._load()

    def _load(self) -> CrossEncoder:
        with self._load_lock:
            if self._model is None:
                device = self._device or default_device()
                if device == "cpu":
                    configure_torch_threads()
                from sentence_transformers import CrossEncoder

                try:
                    self._model = CrossEncoder(
                        self.model_id, max_length=self.max_length, device=device
                    )
                except Exception as exc:
                    raise ConfigurationError(
                        f"cannot load cross-encoder model {self.model_id!r}: {exc}. Set "
                        "SUPPORTBOT_RERANKER_MODEL to a local model folder or a reachable hub id "
                        "(already cached when offline), or choose another SUPPORTBOT_RERANKER "
                        "(late-interaction, none)."
                    ) from exc
                if self._model.num_labels != 1:
                    labels = self._model.num_labels
                    self._model = None
                    raise ConfigurationError(
                        f"model {self.model_id!r} has {labels} output labels; a reranker needs a "
                        "cross-encoder with one relevance score (num_labels=1), e.g. "
                        "cross-encoder/ms-marco-MiniLM-L6-v2."
                    )
                logger.info("cross-encoder %s loaded on %s", self.model_id, device)
            return self._model

    def score(self, query: str, chunks: Sequence[Chunk]) -> list[float]:
        if not chunks:
            return []
        model = self._load()
        pairs = [(query, rerank_text(chunk)) for chunk in chunks]
        try:
            with self._predict_lock:
                scores = model.predict(pairs, batch_size=self.batch_size, show_progress_bar=False)
        except Exception as exc:
            raise RerankError(f"cross-encoder {self.model_id!r} failed: {exc}") from exc
        return [float(value) for value in scores.reshape(-1)]
