"""`supportbot eval` end to end on the sample help center: table, decline figures, threshold."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli.main import app
from tests.conftest import REPO_ROOT
from tests.support.sample_kb import SAMPLE_KB, copy_sample

pytestmark = pytest.mark.model

QUESTIONS = REPO_ROOT / "examples" / "help-center-questions.jsonl"


def run_eval(data_dir: Path, monkeypatch: pytest.MonkeyPatch, **env: str) -> str:
    monkeypatch.chdir(data_dir)  # no stray .env
    environment = {
        "SUPPORTBOT_DATA_DIR": str(data_dir),
        "SUPPORTBOT_RERANKER": "late-interaction",
        **env,
    }
    args = ["eval", "--kb", SAMPLE_KB, "--queries", str(QUESTIONS)]
    result = CliRunner().invoke(app, args, env=environment)
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())


def test_eval_reports_every_pipeline_and_the_calibration_in_force(
    sample_kb_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = copy_sample(sample_kb_dir, tmp_path / "data")
    output = run_eval(data_dir, monkeypatch)
    for pipeline in ("bm25", "dense", "hybrid", "hybrid+rerank"):
        assert f"│ {pipeline} │" in output
    assert "hybrid+rerank: declined" in output and "unanswerable queries" in output
    assert "declines: default calibration (192 questions" in output
    assert "hybrid+rerank: suggested SUPPORTBOT_ANSWERABLE_THRESHOLD=" in output
    assert "unanswerable)" in output

    output = run_eval(data_dir, monkeypatch, SUPPORTBOT_ANSWERABLE_THRESHOLD="0.55")
    assert "declines: best rerank score below 0.55 (SUPPORTBOT_ANSWERABLE_THRESHOLD)" in output
