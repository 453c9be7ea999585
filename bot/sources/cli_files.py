"""Local files as an upload, for `supportbot kb upload` (same checks as the HTTP API).

A file is sent under its own name; a folder contributes its documents under their paths
relative to it (other files, such as images, are left out).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path

from bot.errors import InvalidRequest
from bot.sources.upload_checks import DOCUMENT_SUFFIXES, is_hidden
from bot.sources.uploads import IncomingFile


@contextmanager
def open_local_files(paths: Sequence[Path]) -> Iterator[list[IncomingFile]]:
    with ExitStack() as stack:
        files: list[IncomingFile] = []
        for path in paths:
            for name, file_path in _expand(path):
                files.append(IncomingFile(name, None, stack.enter_context(file_path.open("rb"))))
        yield files


def _expand(path: Path) -> list[tuple[str, Path]]:
    if path.is_file():
        return [(path.name, path)]
    if not path.is_dir():
        raise InvalidRequest(f"{path} does not exist")
    found = []
    for file_path in sorted(path.rglob("*")):
        relative = file_path.relative_to(path).as_posix()
        document = file_path.suffix.lower() in DOCUMENT_SUFFIXES
        if document and file_path.is_file() and not is_hidden(relative):
            found.append((relative, file_path))
    return found
