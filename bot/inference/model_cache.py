"""ModelCache: converted OpenVINO models on disk, so a process starts without torch.

Converting a Hugging Face model to OpenVINO means importing torch, transformers and
sentence-transformers and tracing the model: ~10 s of CPU on 2 cores, at every start of
every API process and worker. The result depends only on the weights, so it is kept. An
entry holds the OpenVINO IR (fp32 weights: the precision is picked when compiling), the
tokenizer's Rust backend, and meta.json with what the caller needs to run the model
(pooling, activation, input names...). OpenVINO's own cache of compiled blobs, keyed by
the IR and the compile options (precision, threads), lives beside the entries in
`compiled/`.

An entry's key covers the model id, a fingerprint of the model folder (each file's path,
size and modification time: new weights mean a new key), the OpenVINO version and this
format's version. Entries are written into a temporary folder and renamed into place, so
a reader never sees half an entry and two processes converting at once both succeed; an
entry that does not read back whole is deleted and rebuilt, never fatal.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
META_FILE = "meta.json"
MODEL_XML = "model.xml"
TOKENIZER_JSON = "tokenizer.json"
_STALE_TMP_S = 3600.0


@dataclass(frozen=True)
class CacheEntry:
    path: Path
    meta: dict[str, Any]

    @property
    def model_xml(self) -> Path:
        return self.path / MODEL_XML

    @property
    def tokenizer_json(self) -> Path:
        return self.path / TOKENIZER_JSON


class ModelCache:
    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def compiled_dir(self) -> Path:
        """Where OpenVINO keeps compiled blobs (its `CACHE_DIR`)."""
        return self.root / "compiled"

    def key(self, kind: str, model_id: str, model_dir: Path) -> str:
        """Names the entry for `model_id` loaded from `model_dir` as `kind` (embedder...)."""
        identity = {
            "format": FORMAT_VERSION,
            "kind": kind,
            "model_id": model_id,
            "files": folder_fingerprint(model_dir),
            "openvino": _openvino_version(),
        }
        digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()
        return f"{kind}-{digest[:24]}"

    def load(self, key: str) -> CacheEntry | None:
        """The entry, or None when absent or damaged (a damaged one is removed)."""
        path = self.root / key
        if not path.is_dir():
            return None
        try:
            meta = json.loads((path / META_FILE).read_text(encoding="utf-8"))
            sizes: dict[str, int] = meta["files"]
            intact = meta.get("format") == FORMAT_VERSION and all(
                (path / name).stat().st_size == size for name, size in sizes.items()
            )
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            logger.warning("model cache entry %s is unreadable (%s); rebuilding it", path, exc)
            intact, meta = False, {}
        if not intact:
            self.discard(key)
            return None
        return CacheEntry(path, meta)

    def store(self, key: str, write: Callable[[Path], dict[str, Any]]) -> CacheEntry | None:
        """Fill a new entry with `write(folder) -> meta`; None when it could not be kept.

        A failure to write (disk full, read-only cache dir) is logged and the caller goes
        on with the model it has in memory.
        """
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            self._remove_stale_tmp()
            tmp = self.root / f".tmp-{key}-{uuid.uuid4().hex[:8]}"
            tmp.mkdir()
        except OSError as exc:
            logger.warning("cannot write the model cache in %s (%s)", self.root, exc)
            return None
        try:
            meta = dict(write(tmp))
            meta["format"] = FORMAT_VERSION
            meta["files"] = {p.name: p.stat().st_size for p in tmp.iterdir() if p.is_file()}
            (tmp / META_FILE).write_text(json.dumps(meta, indent=1), encoding="utf-8")
            try:
                tmp.rename(self.root / key)
            except OSError:
                if not (self.root / key).is_dir():
                    raise
                shutil.rmtree(tmp, ignore_errors=True)  # another process stored it first
        except Exception as exc:  # noqa: BLE001 - a cache that cannot be written is optional
            shutil.rmtree(tmp, ignore_errors=True)
            logger.warning("could not store %s in the model cache (%s)", key, exc)
            return None
        return self.load(key)

    def discard(self, key: str) -> None:
        """Remove an entry; readers see it whole or gone (renamed away first)."""
        path = self.root / key
        trash = self.root / f".tmp-trash-{uuid.uuid4().hex[:8]}"
        with contextlib.suppress(OSError):
            path.rename(trash)
            shutil.rmtree(trash, ignore_errors=True)

    def _remove_stale_tmp(self) -> None:
        """Folders left by a process that died while writing."""
        cutoff = time.time() - _STALE_TMP_S
        for leftover in self.root.glob(".tmp-*"):
            with contextlib.suppress(OSError):
                if leftover.stat().st_mtime < cutoff:
                    shutil.rmtree(leftover, ignore_errors=True)


def folder_fingerprint(folder: Path) -> list[tuple[str, int, int]]:
    """(relative path, size, mtime in ns) of every file under `folder`, hidden ones aside."""
    found = []
    for directory, subdirs, files in os.walk(folder):
        subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith("."):
                continue
            path = Path(directory) / name
            stat = path.stat()
            found.append((str(path.relative_to(folder)), stat.st_size, stat.st_mtime_ns))
    return found


def _openvino_version() -> str:
    try:
        return importlib.metadata.version("openvino")
    except importlib.metadata.PackageNotFoundError:
        return "none"
