"""The no-answer rule: the default model per reranker, or an explicit threshold."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from bot.services import build_services
from bot.settings import Settings

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


def test_an_explicit_threshold_overrides_the_model_for_every_reranker(tmp_path: Path) -> None:
    for reranker in ("late-interaction", "none"):
        services = build_services(
            settings_for(tmp_path / reranker, reranker=reranker, answerable_threshold=0.25),
            warm=False,
        )
        assert services.pipeline.answerability.describe() == {
            "origin": "threshold",
            "best_rerank_threshold": 0.25,
        }


def test_minus_infinity_from_the_environment_turns_declining_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SUPPORTBOT_ANSWERABLE_THRESHOLD", "-inf")
    assert settings_for(tmp_path).answerable_threshold == -math.inf


def test_the_default_model_applies_only_to_the_reranker_it_was_fitted_on(tmp_path: Path) -> None:
    late = build_services(settings_for(tmp_path / "a", reranker="late-interaction"), warm=False)
    assert late.pipeline.answerability.describe()["origin"] == "default"
    # MaxSim over another embedding model is on another scale: no default, never declines.
    other = settings_for(tmp_path / "b", reranker="late-interaction", embedding_model="/m/e5")
    assert other.scored_by("late-interaction") == "late-interaction:/m/e5"
    off = build_services(settings_for(tmp_path / "c", reranker="none"), warm=False)
    assert off.pipeline.answerability.describe()["origin"] == "none"


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
