"""The sample help center (examples/help-center, "Lumen Notes") as a ready-made KB for tests.

Embedding it takes 10-20 s, so `conftest.sample_kb_dir` does it once per session; each
test module then works on its own copy (`copy_sample`), free to write keys or feedback.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from bot.services import build_services
from bot.settings import Settings
from tests.conftest import SAMPLE_HELP_CENTER

SAMPLE_KB = "sample"


def sample_settings(data_dir: Path, **overrides: object) -> Settings:
    """Embedded defaults with the late-interaction reranker (no cross-encoder download)."""
    values: dict[str, object] = {"data_dir": data_dir, "reranker": "late-interaction"}
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg, arg-type]


def ingest_sample(data_dir: Path) -> Path:
    services = build_services(sample_settings(data_dir))

    async def ingest() -> None:
        try:
            report = await services.ingestor.ingest(SAMPLE_KB, SAMPLE_HELP_CENTER)
            assert not report.failed, report.failed
        finally:
            await services.aclose()

    asyncio.run(ingest())
    return data_dir


def copy_sample(source: Path, target: Path) -> Path:
    shutil.copytree(source, target, dirs_exist_ok=True)
    return target
