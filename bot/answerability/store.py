"""Where a knowledge base's own answerability calibration is kept: one JSON file per KB
under the data dir, written atomically; read again only when the file changes."""

from __future__ import annotations

import json
import os
import re
import tempfile
import threading
from pathlib import Path

from bot.answerability.model import AnswerabilityModel
from bot.errors import InvalidRequest

_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")


class FileCalibrationStore:
    def __init__(self, folder: Path) -> None:
        self._folder = folder
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, AnswerabilityModel | None]] = {}

    def path(self, kb: str) -> Path:
        return self._folder / f"{_SAFE_NAME.sub('_', kb)}.json"

    def save(self, kb: str, model: AnswerabilityModel) -> Path:
        self._folder.mkdir(parents=True, exist_ok=True)
        target = self.path(kb)
        handle, temporary = tempfile.mkstemp(dir=self._folder, suffix=".tmp")
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump({"kb": kb, **model.to_json()}, out, indent=2)
        os.replace(temporary, target)
        return target

    def load(self, kb: str) -> AnswerabilityModel | None:
        """The KB's calibration, or None; an unreadable file raises InvalidRequest."""
        target = self.path(kb)
        try:
            mtime = target.stat().st_mtime
        except FileNotFoundError:
            return None
        with self._lock:
            cached = self._cache.get(kb)
            if cached is not None and cached[0] == mtime:
                return cached[1]
        try:
            data = json.loads(target.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise InvalidRequest(f"{target}: unreadable answerability calibration: {exc}") from exc
        model = AnswerabilityModel.from_json(data)
        with self._lock:
            self._cache[kb] = (mtime, model)
        return model

    def delete(self, kb: str) -> bool:
        try:
            self.path(kb).unlink()
        except FileNotFoundError:
            return False
        with self._lock:
            self._cache.pop(kb, None)
        return True
