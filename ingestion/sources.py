"""Where help-center files come from: a folder or a .zip, read without extracting.

Both sources expose the same small surface (relative posix paths and their bytes), so
parsing never touches the file system directly and a zip is never unpacked to disk.
"""

from __future__ import annotations

import posixpath
import stat
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Protocol

from bot.errors import IngestionError

MAX_FILE_BYTES = 10 * 1024 * 1024
MAX_ZIP_TOTAL_BYTES = 200 * 1024 * 1024
MAX_ZIP_MEMBERS = 20_000


class SourceTree(Protocol):
    """A read-only tree of files addressed by posix paths relative to the ingested root."""

    def paths(self) -> list[str]:
        """Every regular file, sorted; hidden files and folders are left out."""
        ...

    def read_bytes(self, path: str) -> bytes:
        """Raise FileNotFoundError for a path not in the tree."""
        ...

    def read_root_file(self, name: str) -> bytes | None:
        """A hidden control file at the root (e.g. `.supportbotignore`), or None when absent."""
        ...


def _is_hidden(path: str) -> bool:
    return any(part.startswith(".") or part == "__MACOSX" for part in path.split("/"))


class FolderSource:
    """Files under a local folder; links that lead outside it are ignored."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def paths(self) -> list[str]:
        found = []
        for path in self.root.rglob("*"):
            relative = path.relative_to(self.root).as_posix()
            if _is_hidden(relative) or not path.is_file():
                continue
            if not path.resolve().is_relative_to(self.root):
                continue
            found.append(relative)
        return sorted(found)

    def read_bytes(self, path: str) -> bytes:
        target = (self.root / path).resolve()
        if not target.is_relative_to(self.root) or not target.is_file():
            raise FileNotFoundError(path)
        if target.stat().st_size > MAX_FILE_BYTES:
            raise IngestionError(f"file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB")
        return target.read_bytes()

    def read_root_file(self, name: str) -> bytes | None:
        if "/" in name or not (self.root / name).is_file():
            return None
        try:
            return self.read_bytes(name)
        except FileNotFoundError:
            return None  # a link leading outside the folder


def _unsafe_member_reason(name: str) -> str | None:
    if "\\" in name:
        return "contains a backslash"
    if name.startswith("/") or PurePosixPath(name).is_absolute():
        return "is an absolute path"
    if len(name) > 1 and name[1] == ":":
        return "has a drive letter"
    if ".." in name.split("/"):
        return "climbs out of the archive with '..'"
    return None


class ZipSource:
    """Members of a .zip archive, validated up front and read lazily.

    A single top-level folder shared by every member (as produced by zipping a folder)
    is treated as the root, so `help/a.md` and `a.md` give the same source ids.
    """

    def __init__(
        self,
        archive: zipfile.ZipFile,
        label: str,
        *,
        max_total_bytes: int = MAX_ZIP_TOTAL_BYTES,
        max_members: int = MAX_ZIP_MEMBERS,
    ) -> None:
        self._archive = archive
        self._members: dict[str, zipfile.ZipInfo] = {}
        self._root_files: dict[str, zipfile.ZipInfo] = {}
        infos = archive.infolist()
        if len(infos) > max_members:
            raise IngestionError(
                f"{label} has {len(infos)} entries, more than the {max_members} allowed"
            )
        total = 0
        files: list[zipfile.ZipInfo] = []
        for info in infos:
            reason = _unsafe_member_reason(info.filename)
            if reason:
                raise IngestionError(
                    f"{label} is unsafe: member {info.filename!r} {reason}; "
                    "re-create the archive with relative paths"
                )
            if info.is_dir() or stat.S_ISLNK(info.external_attr >> 16):
                continue
            total += info.file_size
            files.append(info)
        if total > max_total_bytes:
            raise IngestionError(
                f"{label} unpacks to {total / 2**20:.1f} MiB, more than the "
                f"{max_total_bytes / 2**20:.1f} MiB allowed; split it or ingest a folder"
            )
        prefix = _common_top_folder([info.filename for info in files])
        for info in files:
            relative = posixpath.normpath(info.filename[len(prefix) :])
            if not _is_hidden(relative):
                self._members[relative] = info
            elif "/" not in relative:
                self._root_files[relative] = info

    def paths(self) -> list[str]:
        return sorted(self._members)

    def read_bytes(self, path: str) -> bytes:
        info = self._members.get(path)
        if info is None:
            raise FileNotFoundError(path)
        return self._read(info)

    def read_root_file(self, name: str) -> bytes | None:
        info = self._root_files.get(name)
        return None if info is None else self._read(info)

    def _read(self, info: zipfile.ZipInfo) -> bytes:
        limit = min(info.file_size, MAX_FILE_BYTES)
        if info.file_size > MAX_FILE_BYTES:
            raise IngestionError(f"file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB")
        try:
            with self._archive.open(info) as member:
                data = member.read(limit + 1)
        except (zipfile.BadZipFile, OSError, RuntimeError) as exc:
            raise IngestionError(f"cannot read it from the archive: {exc}") from exc
        if len(data) > limit:
            raise IngestionError("archive entry is larger than its header claims")
        return data


def _common_top_folder(names: list[str]) -> str:
    tops = {name.split("/", 1)[0] for name in names}
    if len(tops) == 1 and all("/" in name for name in names):
        return f"{tops.pop()}/"
    return ""


@contextmanager
def open_source(path: Path) -> Iterator[SourceTree]:
    """Open a folder or a .zip file as a SourceTree; raise IngestionError for anything else."""
    if path.is_dir():
        yield FolderSource(path)
        return
    if not path.exists():
        raise IngestionError(f"{path} does not exist; pass a folder or a .zip file")
    if not zipfile.is_zipfile(path):
        raise IngestionError(f"{path} is neither a folder nor a .zip archive")
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise IngestionError(f"cannot open {path} as a zip archive: {exc}") from exc
    with archive:
        yield ZipSource(archive, path.name)
