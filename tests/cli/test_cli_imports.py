"""A `supportbot search` start imports only what a search uses (benchmarks/README.md,
"Cold start"): each library below costs tens to hundreds of milliseconds of CPU at every
start, and none of them serves a search on the embedded defaults."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

# What the CLI and `build_services` import on the default (embedded, no Redis, no LLM,
# late-interaction or cross-encoder from the model cache) path of a search.
SEARCH_PATH = [
    "bot.cli.main",
    "bot.services",
    "bot.embedding.quantized",
    "bot.retrieval.embedded.search",
    "bot.rerank.late_interaction",
    "bot.rerank.quantized_cross_encoder",
    "bot.cache.memory",
    "bot.cache.sqlite_conversations",
    "bot.cache.sqlite_rate_limit",
    "bot.helpdesk.sqlite_idempotency",
    "bot.insights.sqlite_store",
    "bot.jobs.inprocess",
    "bot.observability.prometheus",
    "bot.observability.tracing",
]

NOT_FOR_A_SEARCH = [
    "torch",  # the model cache loads OpenVINO IR (tests/inference/test_model_cache.py)
    "transformers",
    "sentence_transformers",
    "litellm",  # only with SUPPORTBOT_LLM_MODEL, at the generator's warm-up
    "openai",
    "cohere",
    "httpx",  # the API edge's helpdesk clients, built at the first use of `Services.edge`
    "fastapi",  # `serve` only
    "starlette",
    "uvicorn",
    "celery",
    "redis",
    "elasticsearch",
    "bs4",  # ingestion's parsers, at the first document
    "markdown_it",
    "yaml",
    "lxml",
    "trafilatura",
    "opentelemetry.sdk",  # only with SUPPORTBOT_OTLP_ENDPOINT
    "sklearn",
    "scipy",
]


def fresh_interpreter(script: str) -> str:
    """What `script` prints in a new Python process (sys.modules as a start leaves it)."""
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_search_path_imports_no_library_a_search_does_not_use() -> None:
    script = (
        "import importlib, json, sys\n"
        f"for name in {SEARCH_PATH!r}:\n"
        "    importlib.import_module(name)\n"
        f"print(json.dumps([m for m in {NOT_FOR_A_SEARCH!r} if m in sys.modules]))\n"
    )
    assert fresh_interpreter(script).strip() == "[]"


def test_an_ingestor_loads_the_parsers_at_its_first_document(tmp_path: Path) -> None:
    """`build_services` makes an Ingestor (and its DocumentParser) for every command."""
    (tmp_path / "mute.md").write_text("# Mute\n\nMute a user from their profile.\n")
    (tmp_path / "block.html").write_text("<h1>Block</h1><p>Open the profile menu.</p>")
    script = (
        "import sys\n"
        "from ingestion.collect import collect_documents\n"
        "from ingestion.parsing import DocumentParser\n"
        "from pathlib import Path\n"
        "from ingestion.sources import open_source\n"
        "parser = DocumentParser()\n"
        "print([m for m in ('markdown_it', 'bs4') if m in sys.modules])\n"
        f"with open_source(Path({str(tmp_path)!r})) as tree:\n"
        "    docs = collect_documents(tree, parser).documents\n"
        "for doc in sorted(docs, key=lambda d: d.source_id):\n"
        "    print(doc.source_id, doc.title, doc.sections[0].blocks)\n"
    )
    assert fresh_interpreter(script).splitlines() == [
        "[]",
        "block.html Block ('Open the profile menu.',)",
        "mute.md Mute ('Mute a user from their profile.',)",
    ]
