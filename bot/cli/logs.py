"""What the terminal shows besides our own output: nothing from libraries unless asked.

Model libraries print progress bars and advisory warnings while loading weights; a user
who asked a question should see the answer, and at most one short line per degraded
component (the full story with `--verbose`, and in the server log).
"""

from __future__ import annotations

import logging
import os

LIBRARY_LOGGERS = (
    "transformers",
    "sentence_transformers",
    "huggingface_hub",
    "torch",
    "openvino",
    "nncf",
    "httpx",
    "httpcore",
    "LiteLLM",
    "litellm",
    "elasticsearch",
    "elastic_transport",
    "urllib3",
    "celery",
)


def configure_cli_logging(*, verbose: bool) -> None:
    """Quiet by default: our errors only. Verbose: our info and libraries' warnings.

    Must run before the model libraries are imported: transformers reads its verbosity and
    whether to draw progress bars from the environment at import time."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if not verbose:
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    logging.basicConfig(
        level=logging.INFO if verbose else logging.ERROR,
        format="%(levelname)s %(name)s: %(message)s",
    )
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING if verbose else logging.ERROR)
