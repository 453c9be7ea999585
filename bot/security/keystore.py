"""KeyStore: admin and widget keys in one JSON file, hashed, reloaded when it changes.

The file (default `<data_dir>/keys.json`, mode 0600) is written by `supportbot keys ...`;
a running API notices a changed file on the next request, so creating or revoking a key
needs no restart. Plaintext keys exist only in the CLI's output.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from bot.errors import ConfigurationError, InvalidRequest
from bot.security.keys import (
    KeyKind,
    hash_secret,
    new_key,
    new_salt,
    parse_key,
    render_key,
    secret_matches,
)

FILE_VERSION = 1


@dataclass(frozen=True, slots=True)
class KeyRecord:
    id: str
    kind: KeyKind
    salt: str
    hash: str
    kb: str | None = None
    """Widget keys answer from this knowledge base only."""
    origins: tuple[str, ...] = ()
    """Widget keys: the web origins (scheme://host[:port]) allowed to use them."""
    label: str = ""
    created_at: str = ""
    revoked_at: str | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def public_view(self) -> dict[str, object]:
        """Everything but the salt and hash."""
        view = asdict(self)
        del view["salt"], view["hash"]
        view["origins"] = list(self.origins)
        return view


def normalise_origin(origin: str) -> str:
    """`https://Shop.Example.com/` → `https://shop.example.com`; rejects paths and odd schemes."""
    parts = urlsplit(origin.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidRequest(f"origin {origin!r} must look like https://www.example.com")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise InvalidRequest(f"origin {origin!r} must not have a path, query or fragment")
    host = parts.hostname.lower()
    default_port = {"http": 80, "https": 443}[parts.scheme]
    port = f":{parts.port}" if parts.port and parts.port != default_port else ""
    return f"{parts.scheme}://{host}{port}"


@dataclass
class _Snapshot:
    mtime_ns: int = -1
    records: dict[str, KeyRecord] = field(default_factory=dict)


class KeyStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._snapshot = _Snapshot()

    # --- reading ----------------------------------------------------------------
    def records(self) -> list[KeyRecord]:
        return list(self._current().records.values())

    def authenticate(self, presented: str) -> KeyRecord | None:
        """The active record this plaintext key belongs to, or None."""
        parsed = parse_key(presented)
        if parsed is None:
            return None
        record = self._current().records.get(parsed.key_id)
        if record is None or not record.active or record.kind != parsed.kind:
            return None
        return record if secret_matches(parsed.secret, record.salt, record.hash) else None

    def widget_origins(self) -> frozenset[str]:
        """Every origin some active widget key allows (answers CORS preflights)."""
        return frozenset(
            origin
            for record in self._current().records.values()
            if record.active and record.kind == "widget"
            for origin in record.origins
        )

    def has_widget_keys(self, kb: str) -> bool:
        return any(
            r.active and r.kind == "widget" and r.kb == kb for r in self._current().records.values()
        )

    # --- writing (CLI) ------------------------------------------------------------
    def create(
        self,
        kind: KeyKind,
        *,
        kb: str | None = None,
        origins: tuple[str, ...] = (),
        label: str = "",
    ) -> tuple[KeyRecord, str]:
        """Store a new key; return its record and the plaintext (shown once)."""
        if kind == "widget" and (not kb or not origins):
            raise InvalidRequest("a widget key needs a knowledge base and at least one origin")
        key = new_key(kind)
        salt = new_salt()
        record = KeyRecord(
            id=key.key_id,
            kind=kind,
            salt=salt,
            hash=hash_secret(key.secret, salt),
            kb=kb if kind == "widget" else None,
            origins=tuple(dict.fromkeys(normalise_origin(o) for o in origins)),
            label=label,
            created_at=_now(),
        )
        with self._lock:
            records = dict(self._load().records)
            records[record.id] = record
            self._write(records)
        return record, render_key(key)

    def revoke(self, key_id: str) -> KeyRecord:
        with self._lock:
            records = dict(self._load().records)
            record = records.get(key_id)
            if record is None:
                raise InvalidRequest(f"no key with id {key_id!r}; `supportbot keys list` shows ids")
            if record.active:
                record = KeyRecord(**{**asdict(record), "revoked_at": _now()})
                records[key_id] = record
                self._write(records)
            return record

    # --- file handling ------------------------------------------------------------
    def _current(self) -> _Snapshot:
        try:
            mtime = self.path.stat().st_mtime_ns
        except FileNotFoundError:
            return _Snapshot()
        if mtime != self._snapshot.mtime_ns:
            with self._lock:
                self._snapshot = self._load()
        return self._snapshot

    def _load(self) -> _Snapshot:
        try:
            mtime = self.path.stat().st_mtime_ns
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return _Snapshot()
        except (OSError, ValueError) as exc:
            raise ConfigurationError(
                f"keys file {self.path} is unreadable ({exc}); fix or remove it"
            ) from exc
        records: dict[str, KeyRecord] = {}
        for entry in raw.get("keys", []):
            entry["origins"] = tuple(entry.get("origins", ()))
            record = KeyRecord(**entry)
            records[record.id] = record
        return _Snapshot(mtime, records)

    def _write(self, records: dict[str, KeyRecord]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        body = {
            "version": FILE_VERSION,
            "keys": [{**asdict(r), "origins": list(r.origins)} for r in records.values()],
        }
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".keys-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(body, handle, indent=2)
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self._snapshot = _Snapshot()  # force a reload on the next read


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
