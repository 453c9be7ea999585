"""Metrics shared by several worker processes (``supportbot serve --workers N``).

prometheus_client decides at import time whether metric values live in process memory
or in per-process files, from the ``PROMETHEUS_MULTIPROC_DIR`` environment variable. So
the parent that starts the workers calls `prepare_multiprocess_dir` *before* spawning
them: each worker inherits the variable, writes its own files there, and `/metrics` in
whichever worker is scraped merges them (`PrometheusMetrics.render`). The same variable
is read by `Settings.metrics_multiproc_dir`, so the two always agree.

Wiring for a server with N workers::

    path = prepare_multiprocess_dir(settings.data_dir / "metrics")   # in the parent
    uvicorn.run("bot.api.app:create_app", factory=True, workers=N)   # children inherit

Under gunicorn, also call `prometheus_client.multiprocess.mark_process_dead(worker.pid)`
from its ``child_exit`` hook so gauges of dead workers are dropped.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

ENV_VAR = "PROMETHEUS_MULTIPROC_DIR"


def prepare_multiprocess_dir(path: Path) -> Path:
    """Empty (or create) `path` and export it for the worker processes about to start.

    Stale files from an earlier run would be summed into the new one's counters, so the
    folder is wiped: call this once per server start, in the parent, never in a worker.
    """
    path = path.resolve()
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    os.environ[ENV_VAR] = str(path)
    return path
