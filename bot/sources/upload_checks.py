"""Checks on uploaded names, types and archives: nothing unsafe reaches the disk.

Every check raises our own error with a message that names the offending file and says
what to do: `UploadRejected` (400) for unsafe paths and broken archives,
`UnsupportedUpload` (415) for types we do not ingest, `PayloadTooLarge` (413) for size,
count and compression-ratio limits (the zip-bomb guard).
"""

from __future__ import annotations

import re
import stat
import zipfile
from dataclasses import dataclass
from pathlib import PurePosixPath

from bot.errors import PayloadTooLarge, UnsupportedUpload, UploadRejected
from bot.settings import Settings

DOCUMENT_SUFFIXES = frozenset({".md", ".markdown", ".html", ".htm", ".txt"})
ARCHIVE_SUFFIX = ".zip"
ACCEPTED = ", ".join(sorted(DOCUMENT_SUFFIXES | {ARCHIVE_SUFFIX}))

_GENERIC_TYPES = frozenset({"", "application/octet-stream"})
_DOCUMENT_TYPES = frozenset({"application/xhtml+xml", "application/xml", "application/markdown"})
_ARCHIVE_TYPES = frozenset(
    {"application/zip", "application/x-zip-compressed", "application/x-zip", "multipart/x-zip"}
)
RATIO_CHECK_MIN_BYTES = 1024 * 1024
"""Small members may compress very well (repeated boilerplate); only big ones are judged."""
_DRIVE = re.compile(r"^[A-Za-z]:")
MB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class UploadLimits:
    max_bytes: int
    max_unpacked_bytes: int
    max_files: int
    max_ratio: int
    max_file_bytes: int = 10 * MB

    @classmethod
    def from_settings(cls, settings: Settings) -> UploadLimits:
        return cls(
            max_bytes=settings.upload_max_bytes,
            max_unpacked_bytes=settings.upload_max_unpacked_bytes,
            max_files=settings.upload_max_files,
            max_ratio=settings.upload_max_ratio,
        )


def safe_relative_path(name: str, what: str = "file name") -> str:
    """A clean relative posix path, or UploadRejected (absolute, `..`, backslash, control)."""
    if not name or any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        raise UploadRejected(f"{what} {name!r} is empty or contains control characters")
    if "\\" in name:
        raise UploadRejected(f"{what} {name!r} contains a backslash; use '/' between folders")
    if name.startswith("/") or _DRIVE.match(name):
        raise UploadRejected(f"{what} {name!r} is an absolute path; send relative paths only")
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise UploadRejected(f"{what} {name!r} climbs out of its folder with '..' (path traversal)")
    if not parts or any(len(part.encode("utf-8")) > 255 for part in parts):
        raise UploadRejected(f"{what} {name!r} is not a usable file name")
    return "/".join(parts)


def is_hidden(path: str) -> bool:
    return any(part.startswith(".") or part == "__MACOSX" for part in path.split("/"))


def suffix_of(path: str) -> str:
    return PurePosixPath(path).suffix.lower()


def check_top_level_type(name: str, content_type: str | None) -> bool:
    """True for a .zip, False for a document; UnsupportedUpload for anything else."""
    suffix = suffix_of(name)
    declared = (content_type or "").split(";")[0].strip().lower()
    if suffix == ARCHIVE_SUFFIX:
        if declared not in _ARCHIVE_TYPES | _GENERIC_TYPES:
            raise UnsupportedUpload(f"{name!r} is sent as {declared!r}, not as a zip archive")
        return True
    if suffix not in DOCUMENT_SUFFIXES:
        raise UnsupportedUpload(
            f"{name!r} has an unsupported type; accepted: {ACCEPTED} (help-center articles or a "
            ".zip of them)"
        )
    if not (declared.startswith("text/") or declared in _DOCUMENT_TYPES | _GENERIC_TYPES):
        raise UnsupportedUpload(f"{name!r} is sent as {declared!r}, not as a text document")
    return False


def check_document_bytes(name: str, head: bytes) -> None:
    """Text documents have no NUL bytes; a renamed binary (image, PDF) is refused."""
    if b"\x00" in head:
        raise UnsupportedUpload(f"{name!r} looks binary, not like Markdown, HTML or text")


@dataclass(frozen=True, slots=True)
class ArchiveEntry:
    info: zipfile.ZipInfo
    path: str
    """Where it goes, relative to the KB's upload folder."""


def plan_archive(
    archive: zipfile.ZipFile, label: str, limits: UploadLimits, archive_bytes: int
) -> tuple[list[ArchiveEntry], dict[str, str]]:
    """Validate every member up front; return what to extract and what is skipped (and why)."""
    infos = archive.infolist()
    if len(infos) > limits.max_files:
        raise PayloadTooLarge(
            f"{label} has {len(infos)} entries; the limit is {limits.max_files}. Split it"
        )
    entries: list[ArchiveEntry] = []
    skipped: dict[str, str] = {}
    total = 0
    for info in infos:
        path = safe_relative_path(info.filename, f"{label}: member")
        if stat.S_ISLNK(info.external_attr >> 16):
            raise UploadRejected(f"{label}: member {info.filename!r} is a symbolic link; remove it")
        if info.is_dir() or is_hidden(path):
            continue
        if info.flag_bits & 0x1:
            raise UploadRejected(f"{label}: member {info.filename!r} is encrypted; zip it plainly")
        if suffix_of(path) not in DOCUMENT_SUFFIXES:
            skipped[path] = f"not a document ({ACCEPTED.replace(', .zip', '')})"
            continue
        _check_member_size(info, label, limits)
        total += info.file_size
        entries.append(ArchiveEntry(info, path))
    if total > limits.max_unpacked_bytes:
        raise PayloadTooLarge(
            f"{label} unpacks to {total // MB} MB of documents; the limit is "
            f"{limits.max_unpacked_bytes // MB} MB. Split it or register a server folder"
        )
    if total > RATIO_CHECK_MIN_BYTES and total > limits.max_ratio * max(archive_bytes, 1):
        raise PayloadTooLarge(
            f"{label} unpacks {total // max(archive_bytes, 1)}x its size, over the "
            f"{limits.max_ratio}x allowed; this looks like a zip bomb"
        )
    prefix = _common_top_folder([entry.path for entry in entries])
    return [ArchiveEntry(e.info, e.path[len(prefix) :]) for e in entries], skipped


def _check_member_size(info: zipfile.ZipInfo, label: str, limits: UploadLimits) -> None:
    if info.file_size > limits.max_file_bytes:
        raise PayloadTooLarge(
            f"{label}: member {info.filename!r} unpacks to {info.file_size // MB} MB; "
            f"the limit per file is {limits.max_file_bytes // MB} MB"
        )
    ratio = info.file_size / max(info.compress_size, 1)
    if info.file_size > RATIO_CHECK_MIN_BYTES and ratio > limits.max_ratio:
        raise PayloadTooLarge(
            f"{label}: member {info.filename!r} expands {ratio:.0f}x, over the "
            f"{limits.max_ratio}x allowed; this looks like a zip bomb"
        )


def _common_top_folder(paths: list[str]) -> str:
    """`help/a.md` and `a.md` give the same source ids when every member shares `help/`."""
    tops = {path.split("/", 1)[0] for path in paths}
    if len(tops) == 1 and all("/" in path for path in paths):
        return f"{tops.pop()}/"
    return ""
