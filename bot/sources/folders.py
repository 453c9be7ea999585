"""Server-side folders an admin may register as a KB source: only under `sources_root`.

Without that fence the admin API could index (and so disclose) any file the server can
read; with it, the operator decides which part of the disk help centers live in.
"""

from __future__ import annotations

from pathlib import Path

from bot.errors import Forbidden, InvalidRequest


def resolve_source_folder(requested: str, sources_root: Path | None) -> Path:
    """Absolute, symlink-free path of a folder inside `sources_root` (relative = under it)."""
    if sources_root is None:
        raise Forbidden(
            "registering server folders is switched off; set SUPPORTBOT_SOURCES_ROOT to the "
            "folder that holds your help centers, or upload files instead",
            code="folder_sources_disabled",
        )
    root = sources_root.resolve()
    candidate = Path(requested)
    resolved = (candidate if candidate.is_absolute() else root / candidate).resolve()
    if not resolved.is_relative_to(root):
        raise Forbidden(
            f"{requested!r} is outside SUPPORTBOT_SOURCES_ROOT ({root}); move the help center "
            "under it or upload it",
            code="folder_outside_sources_root",
        )
    if not resolved.is_dir():
        raise InvalidRequest(f"{requested!r} is not a folder on the server (looked at {resolved})")
    return resolved
