"""The composition root: settings pick implementations; failures to load degrade, not crash."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.services import build_services
from bot.settings import Settings


def test_unloadable_cross_encoder_falls_back_to_late_interaction(
    tmp_path: Path, cross_encoder_path: str
) -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path,
        reranker="cross-encoder",
        reranker_model="example-org/no-such-cross-encoder",
    )
    services = build_services(settings)
    try:
        state = services.components["reranker"]
        assert state.name == "late-interaction" and state.ok is False
        assert "no-such-cross-encoder" in (state.detail or "")
        assert services.ingestor is not None
        readiness = asyncio.run(services.readiness())
        assert readiness["components"]["reranker"]["ok"] is False
    finally:
        asyncio.run(services.aclose())


def test_cross_encoder_from_disk_is_used_when_it_loads(
    tmp_path: Path, cross_encoder_path: str
) -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path,
        reranker="cross-encoder",
        reranker_model=str(cross_encoder_path),
    )
    services = build_services(settings)
    try:
        state = services.components["reranker"]
        assert state.ok is True and state.name.startswith("cross-encoder:")
    finally:
        asyncio.run(services.aclose())
