"""Fault drill: the disk fills up while a KB is ingested or re-indexed.

How the disk is filled: a 16 MiB tmpfs holds the data directory, and a filler file takes
its last byte, so SQLite's own writes fail with a real ENOSPC (SQLITE_FULL), as on a full
volume. The tmpfs is mounted in a private mount namespace (`unshare --user
--map-root-user --mount`), which needs no root and leaves the machine's mounts alone;
RLIMIT_FSIZE was the alternative, but it fails writes with EFBIG at a file size, not
ENOSPC on a filesystem, which is not the fault a full disk produces. The scenario runs in
that namespace as a subprocess (tests/support/disk_full_ingest.py) and reports back.

What the code promises: per-document errors that say the disk is full and what to do; the
failed re-index leaves the old index serving; the database stays intact; once space is
freed the same ingest succeeds.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.model

UNSHARE = ["unshare", "--user", "--map-root-user", "--mount"]


def require_private_mounts() -> None:
    reason = None
    if shutil.which("unshare") is None:
        reason = "util-linux `unshare` is not installed"
    else:
        probe = subprocess.run([*UNSHARE, "true"], capture_output=True, text=True, check=False)
        if probe.returncode != 0:
            reason = f"user namespaces are disabled here ({probe.stderr.strip()})"
    if reason is not None:
        message = f"the disk-full drill mounts a private tmpfs, but {reason}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def test_full_disk_fails_ingest_and_reindex_clearly_and_keeps_the_old_index(
    tmp_path: Path,
) -> None:
    require_private_mounts()
    done = subprocess.run(
        [*UNSHARE, sys.executable, "-m", "tests.support.disk_full_ingest", str(tmp_path)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["first_failed"] == {} and seen["filler_bytes"] > 0

    # The incremental ingest reports every document it could not write, with the cause.
    ingest = seen["ingest"]
    assert ingest["raised"] is None and ingest["new"] == []
    assert len(ingest["failed"]) == 29, "28 new documents and 1 changed one"
    for reason in ingest["failed"].values():
        assert "is full" in reason and "free space" in reason, reason
        assert "busy" not in reason

    # The re-index stops with the same clear error, before swapping anything.
    assert seen["rebuild"]["raised"].startswith("BackendUnavailable: the disk holding")

    assert seen["old_index_intact"] is True, "the same searches, the same results"
    assert set(seen["integrity"].values()) == {"ok"} and seen["integrity"]

    assert seen["after_freeing"] == {"failed": {}, "marker": ["topic-000.md"]}
    assert seen["final_chunks"] == 40
