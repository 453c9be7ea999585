"""The API keeps its OpenAPI contract: schemathesis, every check, against a live server.

Runs the fuzzer's own CLI (as an outside client would) with a fixed seed and a bounded
number of examples per operation, against uvicorn serving the sample help center with the
admin key, and fails on any failure or error: an undocumented status code, a response
that does not match its schema, a request the schema allows but the API refuses (or the
reverse), an `Allow` header that does not match the schema's methods, a 5xx.
Exceptions, each with its reason: tests/api/schemathesis.toml.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.api.app import create_app
from tests.support.admin_client import ADMIN_KEY
from tests.support.live_server import serve
from tests.support.sample_kb import copy_sample, sample_settings

pytestmark = [pytest.mark.model, pytest.mark.contract]

CONFIG = Path(__file__).with_name("schemathesis.toml")
INEXPRESSIBLE = {
    ("ST202", "POST /admin/kbs/{kb}/uploads"),
    ("ST202", "PUT /admin/kbs/{kb}/source"),
}
"""Schema-valid requests refused for content OpenAPI cannot state (reasons: CONFIG). The
config turns the check off for them, but schemathesis' stateful phase ignores per-operation
check settings, so its reports of these two are dropped here, and nothing else is."""
EXAMPLES_PER_OPERATION = 25
"""As in the issue that asked for this test; the whole run takes about a minute."""
SEED = 1


@pytest.fixture(scope="module")
def live_url(sample_kb_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data_dir = copy_sample(sample_kb_dir, tmp_path_factory.mktemp("contract-data"))
    # No reranker: the contract is the same, and every chat stays well under the fuzzer's
    # 10 s response-time check on a busy 2-core machine.
    settings = sample_settings(data_dir, reranker="none", admin_api_key=ADMIN_KEY)
    with serve(create_app(settings)) as url:
        yield url


def test_every_operation_keeps_the_openapi_contract(live_url: str, tmp_path: Path) -> None:
    report_path = tmp_path / "report.json"
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "--config-file",
        str(CONFIG),
        "run",
        f"{live_url}/openapi.json",
        "--checks",
        "all",
        "--max-examples",
        str(EXAMPLES_PER_OPERATION),
        "--seed",
        str(SEED),
        "--workers",
        "1",
        "--generation-database",
        "none",
        "--header",
        f"Authorization: Bearer {ADMIN_KEY}",
        "--report",
        "json",
        "--report-json-path",
        str(report_path),
        "--no-color",
    ]
    run = subprocess.run(
        command, capture_output=True, text=True, timeout=600, check=False, cwd=tmp_path
    )
    assert report_path.exists(), run.stdout[-4000:] + run.stderr[-4000:]
    report = json.loads(report_path.read_text(encoding="utf-8"))
    operations = report["operations"]
    assert operations["tested"] == operations["total"] > 20, operations
    assert report["test_cases"]["generated"] > 20 * EXAMPLES_PER_OPERATION, report["test_cases"]
    failed = [
        f"{failure['code']} {failure['title']}: {operation}"
        for failure in report["failures"]
        for operation in failure["operations"]
        if (failure["code"], operation) not in INEXPRESSIBLE
    ]
    assert not failed and not report["errors"], "\n".join(failed) + "\n\n" + run.stdout[-12000:]
