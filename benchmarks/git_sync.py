"""Git source benchmark: a help center committed to a local bare repository, synced three
times through the real sync engine (first sync, after a commit with edits, with nothing new).

    .venv/bin/python -m benchmarks.git_sync [--folder ../shared/eval/zulip-help] [--edits 3]

Between the first and second sync one commit edits `--edits` articles, deletes one and
adds one. Prints each run's counts and seconds and how many texts the embedder received
(the second run should embed only the changed articles' chunks, the third nothing).
Defaults to the Zulip help center when `../shared` is there, else `examples/help-center`.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bot.services import build_services
from bot.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
ZULIP = ROOT.parent / "shared" / "eval" / "zulip-help"
SAMPLE = ROOT / "examples" / "help-center"
KB = "git-bench"


def _git(cwd: Path, *args: str) -> None:
    identity = ["-c", "user.name=bench", "-c", "user.email=bench@example.com"]
    subprocess.run(["git", *identity, *args], cwd=cwd, check=True, capture_output=True)


def _counting(embed: Callable[[Sequence[str]], Any], calls: list[int]) -> Callable[..., Any]:
    def wrapped(texts: Sequence[str]) -> Any:
        calls.append(len(texts))
        return embed(texts)

    return wrapped


async def main(folder: Path, edits: int) -> None:
    with tempfile.TemporaryDirectory(prefix="git-bench-") as tmp:
        root = Path(tmp)
        bare, work = root / "help.git", root / "authoring"
        _git(root, "init", "--quiet", "--bare", "-b", "main", str(bare))
        _git(root, "clone", "--quiet", str(bare), str(work))
        shutil.copytree(folder, work / "help")
        _git(work, "add", "--all")
        _git(work, "commit", "--quiet", "-m", "help center")
        _git(work, "push", "--quiet", "origin", "HEAD:main")

        settings = Settings(_env_file=None, data_dir=root / "data", reranker="none")  # type: ignore[call-arg]
        services = build_services(settings, warm=True)
        calls: list[int] = []
        embedder: Any = services.embedder
        embedder.embed_documents = _counting(embedder.embed_documents, calls)
        options = {
            "url": str(bare),
            "folder": "help",
            "url_template": "https://example.com/help/{path_without_ext}",
            "ignore": ["SOURCE.md"],
        }
        services.connected.put(KB, "git", options, {}, None)
        try:
            await _run(services, "first sync", calls)
            articles = sorted(p for p in (work / "help").rglob("*.md") if "include" not in p.parts)
            for path in articles[:edits]:
                path.write_text(path.read_text() + "\n\nThis paragraph was added later.\n")
            articles[-1].unlink()
            (work / "help" / "benchmark-new.md").write_text(
                "# A new article\n\nAdded between the two syncs.\n"
            )
            _git(work, "add", "--all")
            _git(work, "commit", "--quiet", "-m", "edits")
            _git(work, "push", "--quiet", "origin", "HEAD:main")
            await _run(services, f"after {edits} edits, 1 delete, 1 add", calls)
            await _run(services, "nothing changed", calls)
        finally:
            await services.aclose()


async def _run(services: Any, label: str, calls: list[int]) -> None:
    calls.clear()
    run = await services.sync.sync(KB)
    counts = " ".join(f"{k}={v}" for k, v in run.counts.items())
    print(f"{label:32s} {run.seconds:7.1f} s  {counts}  texts_embedded={sum(calls)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folder", type=Path, default=ZULIP if ZULIP.is_dir() else SAMPLE)
    parser.add_argument("--edits", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.folder, args.edits))
