"""Fail fast when a hub model cannot be fetched.

Without this, loading a hub id on an offline machine spends about a minute in the hub
client's retries before the service can fall back to another reranker.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from urllib.parse import urlparse


def unreachable_reason(model_id: str, timeout_s: float = 3.0) -> str | None:
    """Why `model_id` cannot be loaded right now, or None when it can (or may)."""
    if Path(model_id).expanduser().exists():
        return None
    try:
        from huggingface_hub import try_to_load_from_cache

        if isinstance(try_to_load_from_cache(model_id, "config.json"), str):
            return None
    except Exception:  # noqa: BLE001 - a malformed id is for the loader to report
        return None
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes", "on"}:
        return "not in the local cache and HF_HUB_OFFLINE is set"
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    parsed = urlparse(endpoint)
    host = parsed.hostname or "huggingface.co"
    port = parsed.port or (80 if parsed.scheme == "http" else 443)
    try:
        socket.create_connection((host, port), timeout=timeout_s).close()
    except OSError as exc:
        return f"not in the local cache and {host} is unreachable ({exc})"
    return None
