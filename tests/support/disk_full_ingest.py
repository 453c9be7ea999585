"""The disk-full drill's scenario, run inside its own mount namespace (see
tests/faults/test_disk_full.py): a KB ingested on a small tmpfs, the filesystem filled,
then an incremental ingest and a re-index that cannot write, then space freed again.

    unshare --user --map-root-user --mount python -m tests.support.disk_full_ingest WORK

Prints one JSON object (the last line of stdout) with what each step saw.
"""

from __future__ import annotations

import asyncio
import errno
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

from bot.services import build_services
from bot.settings import Settings
from tests.support.kb_corpus import write_corpus

KB = "acme"
MARKER = "zebracorn"
FILESYSTEM_SIZE = "16m"


def mount_tmpfs(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    size = f"size={FILESYSTEM_SIZE}"
    subprocess.run(["mount", "-t", "tmpfs", "-o", size, "tmpfs", str(folder)], check=True)


def fill(folder: Path) -> int:
    """Write a file until the filesystem refuses with ENOSPC; its size in bytes."""
    written = 0
    with (folder / "filler").open("wb", buffering=0) as filler:
        for block in (1 << 20, 1 << 12, 1):
            try:
                while True:
                    written += filler.write(b"\0" * block)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
    return written


def integrity(data_dir: Path) -> dict[str, str]:
    found: dict[str, str] = {}
    for database in sorted(data_dir.rglob("*.db")) + sorted(data_dir.rglob("*.sqlite*")):
        if database.suffix in (".db", ".sqlite", ".sqlite3"):
            with sqlite3.connect(database) as conn:
                found[database.name] = conn.execute("PRAGMA integrity_check").fetchone()[0]
    return found


async def scenario(work: Path) -> dict[str, object]:
    data_dir = work / "data"
    mount_tmpfs(data_dir)
    write_corpus(work / "v1", 12)
    write_corpus(work / "v2", 40, marker=MARKER)  # article 0 changed, 28 new
    settings = Settings(_env_file=None, data_dir=data_dir, reranker="none")  # type: ignore[call-arg]
    services = build_services(settings)
    ingestor, backend, out = services.ingestor, services.backend, {}

    async def bm25(word: str) -> list[str]:
        return [hit.chunk.source_id for hit in await backend.bm25(KB, word, 20)]

    try:
        first = await ingestor.ingest(KB, work / "v1")
        out["first_failed"] = first.failed
        before = {"topic3": await bm25("topic3"), "stats": (await backend.stats(KB)).chunks}
        out["filler_bytes"] = fill(data_dir)

        try:
            report = await ingestor.ingest(KB, work / "v2")
            out["ingest"] = {"raised": None, "failed": report.failed, "new": report.new}
        except Exception as exc:  # noqa: BLE001 - the drill reports whatever happens
            out["ingest"] = {"raised": f"{type(exc).__name__}: {exc}"}
        try:
            await ingestor.rebuild(KB, work / "v2")
            out["rebuild"] = {"raised": None}
        except Exception as exc:  # noqa: BLE001
            out["rebuild"] = {"raised": f"{type(exc).__name__}: {exc}"}

        after = {"topic3": await bm25("topic3"), "stats": (await backend.stats(KB)).chunks}
        out["old_index_intact"] = before == after and await bm25(MARKER) == []
        out["integrity"] = integrity(data_dir)

        (data_dir / "filler").unlink()
        freed = await ingestor.ingest(KB, work / "v2")
        out["after_freeing"] = {"failed": freed.failed, "marker": await bm25(MARKER)}
        out["final_chunks"] = (await backend.stats(KB)).chunks
    finally:
        await services.aclose()
    return out


if __name__ == "__main__":
    print(json.dumps(asyncio.run(scenario(Path(sys.argv[1]))), default=str))
