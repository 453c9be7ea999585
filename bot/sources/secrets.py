"""SecretStore: connector credentials kept outside the index, in files only we can read.

One JSON file per KB under `data_dir/secrets/` (folder mode 0700, files 0600, written
atomically). Admins may instead name an environment variable; the source then records
only that name. Values never go to the SQLite registry, job records, API responses,
logs or error messages: `redact` scrubs them from any text that might carry one.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

from bot.errors import SourceAuthFailed

REDACTED = "[redacted]"


class SecretStore:
    def __init__(self, folder: Path) -> None:
        self._folder = folder

    def put(self, kb: str, values: Mapping[str, str]) -> None:
        """Replace the KB's stored secrets with `values` (nothing stored = file removed)."""
        if not values:
            self.remove(kb)
            return
        self._folder.mkdir(parents=True, exist_ok=True)
        os.chmod(self._folder, 0o700)
        fd, temporary = tempfile.mkstemp(dir=self._folder, prefix=".tmp-")
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(dict(values), out)
            os.replace(temporary, self._file(kb))
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def get(self, kb: str) -> dict[str, str]:
        path = self._file(kb)
        if not path.is_file():
            return {}
        data = json.loads(path.read_text(encoding="utf-8"))
        return {str(k): str(v) for k, v in data.items()}

    def remove(self, kb: str) -> None:
        self._file(kb).unlink(missing_ok=True)

    def _file(self, kb: str) -> Path:
        return self._folder / f"{kb}.json"


def resolve_secrets(
    kb: str,
    refs: Mapping[str, Mapping[str, str]],
    store: SecretStore,
    environ: Mapping[str, str],
) -> dict[str, str]:
    """Plain values for a connector; a named environment variable that is unset is an
    auth failure that says which variable to set (its value is never shown)."""
    stored = store.get(kb)
    resolved: dict[str, str] = {}
    for name, ref in refs.items():
        if "env" in ref:
            value = environ.get(ref["env"])
            if not value:
                raise SourceAuthFailed(
                    f"the {name} of {kb!r}'s source comes from the environment variable "
                    f"{ref['env']}, which is not set where the sync runs; set it there"
                )
            resolved[name] = value
        elif name in stored:
            resolved[name] = stored[name]
        else:
            raise SourceAuthFailed(
                f"the stored {name} of {kb!r}'s source is missing; set the source again "
                "with its credentials"
            )
    return resolved


def redact(text: str, secrets: Iterable[str]) -> str:
    for value in sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True):
        text = text.replace(value, REDACTED)
    return text
