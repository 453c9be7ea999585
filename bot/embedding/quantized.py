"""ReducedPrecisionEmbedder: SentenceTransformerEmbedder run in bf16 (or int8) on CPU.

Same model id, same vectors up to rounding (cosine ≥ 0.99 against fp32 is tested), so
an index built at one precision is queried at another without re-ingesting. On CPUs
with native bf16 (Intel AMX / AVX512-BF16) it embeds several times faster; `auto`
falls back to fp32 elsewhere. See `bot.precision` and benchmarks/README.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.embedding.sentence_transformer import SentenceTransformerEmbedder
from bot.precision import Precision, ResolvedPrecision, apply_precision, resolve_precision

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer


class ReducedPrecisionEmbedder(SentenceTransformerEmbedder):
    def __init__(
        self,
        model_id: str,
        batch_size: int = 32,
        device: str | None = None,
        *,
        precision: Precision = "auto",
    ) -> None:
        super().__init__(model_id, batch_size=batch_size, device=device)
        self.precision: ResolvedPrecision = resolve_precision(precision, device or "cpu")
        self._converted = False

    def _load(self) -> SentenceTransformer:
        model = super()._load()
        with self._lock:
            if not self._converted:
                converted = apply_precision(model, self.precision)
                self._model = model = converted  # type: ignore[assignment]
                self._converted = True
        return model
