"""The no-answer threshold: calibrated per reranker, applied to the reranker in use."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from bot.services import build_services
from bot.settings import CALIBRATED_ANSWERABLE_THRESHOLDS, PACKAGED_EMBEDDING_MODEL, Settings

ARTICLES = {
    "reset-password.md": (
        "# Reset your password\n\nIf you forgot your password, you can set a new one from "
        "the sign-in page.\n\n## Reset a forgotten password\n\n1. Go to the sign-in page.\n"
        "2. Click **Forgot password?** and enter your email address.\n"
        "3. Open the reset link we email you and choose a new password.\n"
    ),
    "export-a-workspace.md": (
        "# Export a workspace\n\nOwners can download everything in a workspace as a zip of "
        "Markdown files.\n\n## Export\n\n1. Open **Settings > Workspace > Export**.\n"
        "2. Click **Export all pages**. We email you a download link when it is ready.\n"
    ),
    "invoices.md": (
        "# Download invoices\n\nInvoices for every payment are kept under Billing.\n\n"
        "## Download an invoice\n\n1. Open **Settings > Billing > Invoices**.\n"
        "2. Click **Download PDF** next to the invoice you need.\n"
    ),
}


def settings_for(data_dir: Path, **overrides: object) -> Settings:
    return Settings(_env_file=None, data_dir=data_dir, **overrides)  # type: ignore[arg-type]


def test_the_default_applies_only_where_it_was_calibrated(tmp_path: Path) -> None:
    calibrated = CALIBRATED_ANSWERABLE_THRESHOLDS[("late-interaction", PACKAGED_EMBEDDING_MODEL)]
    defaults = settings_for(tmp_path)
    assert defaults.answerable_threshold_for("late-interaction") == calibrated
    # Other scales (cross-encoder logits, Cohere relevance) have no calibrated default yet.
    assert defaults.answerable_threshold_for("cross-encoder") is None
    assert defaults.answerable_threshold_for("cohere") is None
    assert defaults.answerable_threshold_for("none") is None
    # MaxSim over another embedding model is on another scale.
    other_model = settings_for(tmp_path, embedding_model="/models/e5-small")
    assert other_model.answerable_threshold_for("late-interaction") is None


def test_an_explicit_threshold_wins_for_every_reranker(tmp_path: Path) -> None:
    explicit = settings_for(tmp_path, answerable_threshold=0.25)
    assert explicit.answerable_threshold_for("late-interaction") == 0.25
    assert explicit.answerable_threshold_for("cohere") == 0.25


def test_minus_infinity_from_the_environment_turns_declining_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SUPPORTBOT_ANSWERABLE_THRESHOLD", "-inf")
    never = settings_for(tmp_path)
    assert never.answerable_threshold_for("late-interaction") == -math.inf


async def test_late_interaction_declines_an_off_topic_question_by_default(tmp_path: Path) -> None:
    folder = tmp_path / "help"
    folder.mkdir()
    for name, text in ARTICLES.items():
        (folder / name).write_text(text, encoding="utf-8")
    services = build_services(settings_for(tmp_path / "data", reranker="late-interaction"))
    try:
        await services.ingestor.ingest("kb", folder)
        on_topic = await services.pipeline.search("kb", "I forgot my password, how do I reset it?")
        off_topic = await services.pipeline.search("kb", "what is the capital of Mongolia?")
        assert on_topic.reranked and on_topic.answerable
        assert on_topic.results[0].chunk.source_id == "reset-password.md"
        assert off_topic.reranked and not off_topic.answerable
        answer = await services.pipeline.answer("kb", "what is the capital of Mongolia?")
        assert answer.mode == "declined" and answer.handoff_suggested and not answer.citations
    finally:
        await services.aclose()
