"""Store uploaded articles (files or a .zip) in a KB's upload folder, all or nothing.

Everything is validated (`upload_checks`) and written to a staging folder next to the
destination first; only when every file made it are they moved into place. A rejected
upload therefore leaves the KB's folder exactly as it was.
"""

from __future__ import annotations

import os
import shutil
import uuid
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from bot.errors import PayloadTooLarge, UploadRejected
from bot.sources.upload_checks import (
    MB,
    ArchiveEntry,
    UploadLimits,
    check_document_bytes,
    check_top_level_type,
    plan_archive,
    safe_relative_path,
)

_CHUNK = 64 * 1024


@dataclass(frozen=True, slots=True)
class IncomingFile:
    filename: str
    content_type: str | None
    file: BinaryIO
    """Seekable (FastAPI spools uploads to temporary files)."""


@dataclass
class StoredUpload:
    stored: list[str] = field(default_factory=list)
    """Paths written, relative to the KB's upload folder (= their source ids)."""
    skipped: dict[str, str] = field(default_factory=dict)
    """Archive members left out, and why (images, stylesheets, ...)."""


def store_upload(
    files: Sequence[IncomingFile], destination: Path, limits: UploadLimits
) -> StoredUpload:
    if not files:
        raise UploadRejected("no files in the upload; send one or more `files` form fields")
    if len(files) > limits.max_files:
        raise PayloadTooLarge(f"{len(files)} files in one upload; the limit is {limits.max_files}")
    sizes = [_size(f.file) for f in files]
    if sum(sizes) > limits.max_bytes:
        raise PayloadTooLarge(
            f"the upload is {sum(sizes) // MB} MB; the limit is {limits.max_bytes // MB} MB"
        )
    destination.mkdir(parents=True, exist_ok=True)
    staging = destination.parent / f".staging-{destination.name}-{uuid.uuid4().hex}"
    outcome = StoredUpload()
    try:
        for incoming, size in zip(files, sizes, strict=True):
            _stage_one(incoming, size, staging, limits, outcome)
        if not outcome.stored:
            raise UploadRejected(
                "the upload holds no Markdown, HTML or text documents"
                + (
                    f" (skipped: {', '.join(sorted(outcome.skipped)[:10])})"
                    if outcome.skipped
                    else ""
                )
            )
        _move_into(staging, destination, outcome.stored)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    outcome.stored = sorted(set(outcome.stored))
    return outcome


def _stage_one(
    incoming: IncomingFile, size: int, staging: Path, limits: UploadLimits, outcome: StoredUpload
) -> None:
    name = safe_relative_path(incoming.filename)
    if check_top_level_type(name, incoming.content_type):
        _stage_archive(incoming.file, name, size, staging, limits, outcome)
        return
    if size > limits.max_file_bytes:
        raise PayloadTooLarge(
            f"{name!r} is {size // MB} MB; the limit per file is {limits.max_file_bytes // MB} MB"
        )
    incoming.file.seek(0)
    check_document_bytes(name, incoming.file.read(8192))
    incoming.file.seek(0)
    _copy(incoming.file, _target(staging, name), size, name)
    outcome.stored.append(name)


def _stage_archive(
    file: BinaryIO, name: str, size: int, staging: Path, limits: UploadLimits, outcome: StoredUpload
) -> None:
    file.seek(0)
    try:
        archive = zipfile.ZipFile(file)
    except (zipfile.BadZipFile, OSError) as exc:
        raise UploadRejected(f"{name!r} is not a readable zip archive ({exc})") from exc
    with archive:
        entries, skipped = plan_archive(archive, name, limits, size)
        outcome.skipped.update({f"{name}:{path}": why for path, why in skipped.items()})
        for entry in entries:
            _extract(archive, entry, staging, name)
            outcome.stored.append(entry.path)


def _extract(archive: zipfile.ZipFile, entry: ArchiveEntry, staging: Path, label: str) -> None:
    """Stream one member out, never trusting its header: stop at the declared size + 1."""
    what = f"{label}: member {entry.info.filename!r}"
    try:
        with archive.open(entry.info) as member:
            head = member.read(8192)
            check_document_bytes(what, head)
            target = _target(staging, entry.path)
            written = len(head)
            with target.open("wb") as out:
                out.write(head)
                while written <= entry.info.file_size:
                    chunk = member.read(_CHUNK)
                    if not chunk:
                        break
                    written += len(chunk)
                    out.write(chunk)
    except (zipfile.BadZipFile, OSError, RuntimeError, EOFError) as exc:
        raise UploadRejected(f"{what} cannot be read ({exc}); re-create the archive") from exc
    if written > entry.info.file_size:
        raise UploadRejected(f"{what} is larger than its header claims; the archive is unsafe")


def _copy(source: BinaryIO, target: Path, size: int, name: str) -> None:
    with target.open("wb") as out:
        copied = 0
        while chunk := source.read(_CHUNK):
            copied += len(chunk)
            if copied > size:
                raise UploadRejected(f"{name!r} changed while it was being stored; send it again")
            out.write(chunk)


def _target(staging: Path, relative: str) -> Path:
    target = (staging / relative).resolve()
    if not target.is_relative_to(staging.resolve()):
        raise UploadRejected(f"{relative!r} would be written outside the upload folder")
    target.parent.mkdir(parents=True, exist_ok=True)
    return target


def _move_into(staging: Path, destination: Path, relatives: list[str]) -> None:
    """Check every target first, then move: a clash leaves the KB's folder untouched."""
    root = destination.resolve()
    targets = {}
    for relative in relatives:
        target = (root / relative).resolve()
        if not target.is_relative_to(root):
            raise UploadRejected(f"{relative!r} would be written outside the KB's upload folder")
        if target.is_dir():
            raise UploadRejected(f"{relative!r} is a folder in the KB's uploads; rename the file")
        targets[relative] = target
    for relative, target in targets.items():
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging / relative, target)


def _size(file: BinaryIO) -> int:
    file.seek(0, os.SEEK_END)
    size = file.tell()
    file.seek(0)
    return size


def remove_uploaded(destination: Path, source_ids: Sequence[str]) -> list[str]:
    """Delete the stored files of these documents (so a re-index does not bring them back)."""
    root = destination.resolve()
    removed = []
    for source_id in source_ids:
        try:
            target = (root / safe_relative_path(source_id, "source id")).resolve()
        except UploadRejected:
            continue
        if target.is_relative_to(root) and target.is_file():
            target.unlink()
            removed.append(source_id)
    return removed
