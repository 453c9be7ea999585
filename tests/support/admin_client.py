"""Helpers for driving the admin API in tests: auth header, zips, following jobs."""

from __future__ import annotations

import io
import time
import zipfile
from pathlib import Path
from typing import Any

import httpx

from bot.settings import Settings

ADMIN_KEY = "test-admin-key-0123456789"
AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}


def make_zip(members: dict[str, bytes], *, symlinks: dict[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o120777 << 16) | 0x20  # symbolic link
            archive.writestr(info, target)
    return buffer.getvalue()


def wait_job(
    client: httpx.Client,
    job_id: str,
    timeout_s: float = 180,
    seen: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Poll GET /admin/jobs/{id} until the job is finished; every state polled goes to `seen`."""
    deadline = time.monotonic() + timeout_s
    while True:
        response = client.get(f"/admin/jobs/{job_id}", headers=AUTH)
        assert response.status_code == 200, response.text
        job = response.json()
        if seen is not None:
            seen.append(job)
        if job["state"] in ("succeeded", "failed", "cancelled"):
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} still {job['state']} after {timeout_s}s: {job}")
        time.sleep(0.05)


def register_folder(client: httpx.Client, kb: str, folder: str) -> str:
    """Create `kb`, register the server folder `folder` (under SOURCES_ROOT) as its source;
    the id of the ingest job that queued."""
    created = client.post("/admin/kbs", json={"kb": kb}, headers=AUTH)
    assert created.status_code == 201, created.text
    registered = client.put(f"/admin/kbs/{kb}/source", json={"path": folder}, headers=AUTH)
    assert registered.status_code == 202, registered.text
    return str(registered.json()["job"]["id"])


def admin_settings(root: Path, **values: Any) -> Settings:
    """An app's settings for admin-API tests: state in `root/data`, folder sources under
    `root/sources`, the test admin key, no reranker, no periodic re-sync; `values` on top."""
    defaults: dict[str, Any] = {
        "data_dir": root / "data",
        "sources_root": root / "sources",
        "admin_api_key": ADMIN_KEY,
        "reranker": "none",
        "resync_interval_s": 0,
    }
    return Settings(_env_file=None, **{**defaults, **values})  # type: ignore[call-arg]
