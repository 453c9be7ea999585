"""What `supportbot serve` prepares in the parent before its workers start."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.api.workers import WORKERS_ENV, prepare_workers
from bot.errors import ConfigurationError
from bot.observability.multiprocess import ENV_VAR
from bot.settings import Settings


@pytest.fixture(autouse=True)
def restored_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """`prepare_workers` sets these in os.environ (for the workers it spawns). Set them here
    first so monkeypatch restores the originals: `delenv` of an absent variable records
    nothing, and a leaked worker count would make every later in-process app refuse jobs."""
    for name in (ENV_VAR, WORKERS_ENV):
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)


def settings(data_dir: Path, **values: object) -> Settings:
    return Settings(_env_file=None, data_dir=data_dir, **values)  # type: ignore[call-arg, arg-type]


def test_metric_files_of_an_earlier_run_are_removed(tmp_path: Path) -> None:
    stale = tmp_path / "metrics" / "counter_1234.db"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"old counts")
    prepare_workers(settings(tmp_path), 3)
    assert (tmp_path / "metrics").is_dir() and not stale.exists()
    assert Path(os.environ[ENV_VAR]) == (tmp_path / "metrics").resolve()
    assert os.environ[WORKERS_ENV] == "3"


def test_one_worker_leaves_metrics_in_process(tmp_path: Path) -> None:
    prepare_workers(settings(tmp_path), 1)
    assert not (tmp_path / "metrics").exists()


def test_zero_workers_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="at least 1"):
        prepare_workers(settings(tmp_path), 0)
