"""Sources (folder, zip) and decoding: what reaches the parser, and what is refused."""

from __future__ import annotations

import codecs
import zipfile
from pathlib import Path

import pytest

from bot.errors import IngestionError
from ingestion.decoding import decode_text
from ingestion.sources import FolderSource, ZipSource, open_source


def _write(root: Path, files: dict[str, str | bytes]) -> None:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


HELP: dict[str, str | bytes] = {
    "a.md": "# A\n\ntext",
    "guides/b.md": "# B\n\ntext",
    "include/frag.md": "fragment",
    ".git/config": "hidden",
    "guides/.DS_Store": "hidden",
}


def test_folder_lists_relative_posix_paths_without_hidden_files(tmp_path: Path) -> None:
    _write(tmp_path, HELP)
    tree = FolderSource(tmp_path)
    assert tree.paths() == ["a.md", "guides/b.md", "include/frag.md"]
    assert tree.read_bytes("guides/b.md") == b"# B\n\ntext"
    with pytest.raises(FileNotFoundError):
        tree.read_bytes("../outside.md")


def test_folder_ignores_links_leading_outside_the_root(tmp_path: Path) -> None:
    root = tmp_path / "help"
    _write(root, {"a.md": "# A\n\nx"})
    (tmp_path / "secret.md").write_text("secret")
    (root / "link.md").symlink_to(tmp_path / "secret.md")
    tree = FolderSource(root)
    assert tree.paths() == ["a.md"]
    with pytest.raises(FileNotFoundError):
        tree.read_bytes("link.md")


def test_zip_with_a_top_folder_gives_the_same_ids_as_the_folder(tmp_path: Path) -> None:
    members = {f"help-center/{name}": str(content).encode() for name, content in HELP.items()}
    archive = _zip(tmp_path / "help.zip", members)
    with open_source(archive) as tree:
        assert tree.paths() == ["a.md", "guides/b.md", "include/frag.md"]
        assert tree.read_bytes("a.md") == b"# A\n\ntext"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["help.zip"]  # nothing extracted


def test_zip_without_a_top_folder_keeps_member_paths(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "flat.zip", {"a.md": b"x", "guides/b.md": b"y"})
    with open_source(archive) as tree:
        assert tree.paths() == ["a.md", "guides/b.md"]


@pytest.mark.parametrize(
    ("member", "reason"),
    [
        ("../evil.md", "'..'"),
        ("help/../../evil.md", "'..'"),
        ("/etc/evil.md", "absolute"),
        ("C:/evil.md", "drive letter"),
        ("help\\..\\evil.md", "backslash"),
    ],
)
def test_zip_with_path_traversal_is_rejected(tmp_path: Path, member: str, reason: str) -> None:
    archive = _zip(tmp_path / "bad.zip", {"ok.md": b"# ok\n\nfine", member: b"pwned"})
    with pytest.raises(IngestionError) as error, open_source(archive):
        pass
    assert repr(member) in error.value.message
    assert reason in error.value.message


def test_zip_over_the_size_cap_is_rejected_before_reading(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "big.zip", {"a.md": b"a" * 5000, "b.md": b"b" * 5000})
    with zipfile.ZipFile(archive) as opened:
        with pytest.raises(IngestionError, match="MiB allowed"):
            ZipSource(opened, "big.zip", max_total_bytes=8000)
        assert ZipSource(opened, "big.zip", max_total_bytes=20_000).paths() == ["a.md", "b.md"]


def test_zip_with_too_many_members_is_rejected(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "many.zip", {f"{n}.md": b"x" for n in range(12)})
    with zipfile.ZipFile(archive) as opened, pytest.raises(IngestionError, match="12 entries"):
        ZipSource(opened, "many.zip", max_members=10)


def test_missing_path_and_non_zip_file_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(IngestionError, match="does not exist"), open_source(tmp_path / "nope"):
        pass
    not_zip = tmp_path / "notes.md"
    not_zip.write_text("# hi")
    with pytest.raises(IngestionError, match=r"neither a folder nor a \.zip"), open_source(not_zip):
        pass


def test_decode_accepts_utf8_with_or_without_bom_and_utf16_with_bom() -> None:
    assert decode_text("Grüße 👋\r\nzweite".encode()) == "Grüße 👋\nzweite"
    assert decode_text(codecs.BOM_UTF8 + "ça va".encode()) == "ça va"
    assert decode_text("日本語".encode("utf-16")) == "日本語"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"caf\xe9 au lait", "not valid UTF-8 (byte 0xe9 at offset 3)"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary file"),
        (b"", "empty document"),
        (b"  \n\n\t", "empty document"),
    ],
)
def test_decode_refuses_what_is_not_text(data: bytes, reason: str) -> None:
    with pytest.raises(IngestionError) as error:
        decode_text(data)
    assert reason in error.value.message
