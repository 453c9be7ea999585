"""QuantizedCrossEncoderReranker against plain sentence-transformers on real model weights.

The cross-encoder is the conftest `cross_encoder_path` model: the packaged MiniLM
encoder with a seeded (untrained) relevance head, since no pretrained cross-encoder
can be downloaded here. Faithfulness is therefore checked as agreement with the fp32
forward pass of the same weights, on passages from our sample help center (examples/).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import spearmanr

from bot.domain import Chunk
from bot.errors import ConfigurationError
from bot.inference.precision import resolve_precision
from bot.rerank.inputs import rerank_text
from bot.rerank.quantized_cross_encoder import QuantizedCrossEncoderReranker
from tests.conftest import SAMPLE_HELP_CENTER

pytestmark = pytest.mark.model

ARTICLES = [
    "account/reset-password.md",
    "account/two-factor-authentication.md",
    "billing/change-or-cancel-your-plan.md",
    "billing/storage-limits.md",
    "notifications/notification-settings.md",
    "pages/version-history.md",
    "pages/restore-from-trash.md",
    "sharing/permissions-and-roles.md",
    "integrations/slack.md",
    "apps/offline-mode.md",
]
QUERIES = [
    "how do I give a teammate permission to edit our pages",
    "the password reset email never shows up",
    "I deleted a page by mistake yesterday, can I get it back",
]
FRONT_MATTER = re.compile(r"\A---\n.*?\n---\n", re.DOTALL)


def help_center_chunks() -> list[Chunk]:
    """The first ~160 words of ten sample help-center articles, front matter and markup stripped."""
    chunks = []
    for ordinal, name in enumerate(ARTICLES):
        text = FRONT_MATTER.sub("", (SAMPLE_HELP_CENTER / name).read_text(encoding="utf-8"))
        title = text.strip().splitlines()[0].lstrip("# ")
        body = re.sub(r"\{[^{}]*\}|^#.*$|[*`]", " ", text, flags=re.MULTILINE)
        chunks.append(
            Chunk("sample", name, ordinal, title, (), " ".join(body.split()[:160]), None, "d")
        )
    return chunks


@pytest.fixture(scope="module")
def chunks() -> list[Chunk]:
    return help_center_chunks()


@pytest.fixture(scope="module")
def plain_scores(cross_encoder_path: Path, chunks: list[Chunk]) -> dict[str, np.ndarray]:
    """What plain `CrossEncoder.predict` (fp32) gives for the same input text."""
    from sentence_transformers import CrossEncoder

    model = CrossEncoder(str(cross_encoder_path), max_length=256, device="cpu")
    return {
        query: model.predict([(query, rerank_text(c)) for c in chunks], show_progress_bar=False)
        for query in QUERIES
    }


@pytest.mark.parametrize(("runtime", "suffix"), [("torch", ""), ("openvino", ":openvino-fp32")])
def test_fp32_reproduces_plain_sentence_transformers(
    cross_encoder_path: Path,
    chunks: list[Chunk],
    plain_scores: dict[str, np.ndarray],
    runtime: str,
    suffix: str,
) -> None:
    reranker = QuantizedCrossEncoderReranker(
        str(cross_encoder_path),
        precision="fp32",
        runtime=runtime,  # type: ignore[arg-type]
    )
    # torch fp32 computes exactly what plain does, so it shares plain's cache entries.
    assert reranker.name == f"cross-encoder:{cross_encoder_path}:256{suffix}"
    for query in QUERIES:
        assert reranker.score(query, chunks) == pytest.approx(plain_scores[query], abs=1e-5)


@pytest.mark.parametrize(("runtime", "min_unique"), [("torch", 30), ("openvino", 29)])
def test_bf16_scores_stay_faithful(
    cross_encoder_path: Path,
    chunks: list[Chunk],
    plain_scores: dict[str, np.ndarray],
    runtime: str,
    min_unique: int,
) -> None:
    reranker = QuantizedCrossEncoderReranker(
        str(cross_encoder_path),
        precision="bf16",
        runtime=runtime,  # type: ignore[arg-type]
    )
    assert reranker.name.endswith(":256:bf16" if runtime == "torch" else ":256:openvino-bf16")
    ours = np.concatenate([reranker.score(query, chunks) for query in QUERIES])
    reference = np.concatenate([plain_scores[query] for query in QUERIES])
    assert len(ours) == 30
    assert spearmanr(reference, ours).statistic >= 0.98
    assert np.abs(ours - reference).max() < 1e-3  # this head's scores span only ~0.008
    # torch keeps the head in fp32; OpenVINO accumulates the head in fp32 from bf16
    # inputs, so scores are not rounded to the bf16 grid (one coincident pair here).
    assert len(set(ours.tolist())) >= min_unique


@pytest.mark.parametrize("runtime", ["torch", "openvino"])
def test_batching_and_padding_do_not_change_scores(
    cross_encoder_path: Path, chunks: list[Chunk], runtime: str
) -> None:
    one_batch = QuantizedCrossEncoderReranker(
        str(cross_encoder_path),
        precision="fp32",
        runtime=runtime,  # type: ignore[arg-type]
        max_batch_tokens=16384,
    )
    many_batches = QuantizedCrossEncoderReranker(
        str(cross_encoder_path),
        precision="fp32",
        runtime=runtime,  # type: ignore[arg-type]
        batch_size=2,
        max_batch_tokens=300,
    )
    query = QUERIES[0]
    mixed = [*chunks[:5], chunks[0]]  # a duplicate keeps its own position
    assert many_batches.score(query, mixed) == pytest.approx(
        one_batch.score(query, mixed), abs=1e-5
    )
    assert one_batch.score(query, []) == []


def test_auto_runtime_is_openvino_on_cpu(cross_encoder_path: Path) -> None:
    """openvino is a dependency, so the default is its CPU plugin at the CPU's best precision."""
    reranker = QuantizedCrossEncoderReranker(str(cross_encoder_path))
    assert reranker.runtime == "openvino"
    assert reranker.name.endswith(f":openvino-{resolve_precision('auto', 'cpu')}")
    assert reranker.max_batch_tokens == 2048  # the runtime's own budget once loaded
    assert QuantizedCrossEncoderReranker("x", precision="int8").runtime == "torch"


def test_int8_runs_and_tracks_fp32_loosely(
    cross_encoder_path: Path, chunks: list[Chunk], plain_scores: dict[str, np.ndarray]
) -> None:
    """int8 is opt-in: with this untrained head its scores drift (see benchmarks/README.md)."""
    reranker = QuantizedCrossEncoderReranker(str(cross_encoder_path), precision="int8")
    ours = reranker.score(QUERIES[0], chunks)
    assert np.all(np.isfinite(ours))
    assert spearmanr(plain_scores[QUERIES[0]], ours).statistic > 0.5


def test_bad_configuration_is_refused_with_a_reason(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="max_length"):
        QuantizedCrossEncoderReranker("x", max_length=4)
    with pytest.raises(ConfigurationError, match="precision"):
        QuantizedCrossEncoderReranker("x", precision="fp8")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="CPU only"):
        QuantizedCrossEncoderReranker("x", precision="int8", device="cuda")
    with pytest.raises(ConfigurationError, match="runtime must be one of"):
        QuantizedCrossEncoderReranker("x", runtime="onnx")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="int8 is torch"):
        QuantizedCrossEncoderReranker("x", precision="int8", runtime="openvino")
    with pytest.raises(ConfigurationError, match="runs on CPU"):
        QuantizedCrossEncoderReranker("x", precision="fp32", runtime="openvino", device="cuda")
    missing = QuantizedCrossEncoderReranker(str(tmp_path / "no-such-model"))
    with pytest.raises(ConfigurationError, match="SUPPORTBOT_RERANKER_MODEL"):
        missing.warm_up()


def test_auto_precision_follows_the_cpu() -> None:
    from bot.inference.precision import cpu_has_native_bf16

    assert resolve_precision("auto", "cpu") == ("bf16" if cpu_has_native_bf16() else "fp32")
    assert resolve_precision("auto", "cuda") == "fp32"


def test_auto_choices_follow_a_gpu_found_at_load_time() -> None:
    """Constructed without a device on a CUDA host: `auto` must mean torch fp32 there."""
    reranker = QuantizedCrossEncoderReranker("some/model")
    reranker._settle_for("cuda")
    assert (reranker.runtime, reranker.precision) == ("torch", "fp32")
    assert reranker.name == "cross-encoder:some/model:256"
    pinned = QuantizedCrossEncoderReranker("some/model", precision="bf16", runtime="torch")
    pinned._settle_for("cuda")
    assert (pinned.runtime, pinned.precision) == ("torch", "bf16")
