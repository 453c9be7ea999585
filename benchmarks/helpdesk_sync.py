"""Helpdesk source benchmark: a help center served as Zendesk Guide, Intercom or Freshdesk
(on a local server following the vendor's API), synced three times through the real engine.

    .venv/bin/python -m benchmarks.helpdesk_sync [--vendor zendesk|intercom|freshdesk]
        [--folder ../shared/eval/zulip-help] [--edits 3]

Each Markdown article of the folder (fragments under `include/` left out) becomes one
published article (HTML rendered with markdown-it) in one of three sections, plus one draft.
Between the first and second sync `--edits` articles are edited (their `updated_at` moves),
one is removed and one published. Prints each run's counts, seconds, HTTP requests and how
many texts the embedder received (the second run should embed only the changed articles'
chunks, the third nothing). Defaults to the Zulip help center when `../shared` is there,
else `examples/help-center`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from markdown_it import MarkdownIt

from bot.services import build_services
from bot.settings import Settings
from tests.support.help_centers import HELP_CENTERS, PLACE_IDS, Article, HelpCenter

ROOT = Path(__file__).resolve().parent.parent
ZULIP = ROOT.parent / "shared" / "eval" / "zulip-help"
SAMPLE = ROOT / "examples" / "help-center"
KB = "helpdesk-bench"
TOKEN_VARIABLE = "SUPPORTBOT_BENCH_HELPDESK_TOKEN"


def load_articles(folder: Path) -> list[Article]:
    render = MarkdownIt("commonmark", {"html": True}).enable("table").render
    places = sorted(PLACE_IDS)
    paths = sorted(
        p for p in folder.rglob("*.md") if "include" not in p.parts and p.name != "SOURCE.md"
    )
    articles = []
    for number, path in enumerate(paths):
        text = path.read_text(encoding="utf-8")
        title = next(
            (line.lstrip("# ").strip() for line in text.splitlines() if line.startswith("# ")),
            path.stem.replace("-", " "),
        )
        articles.append(Article(1000 + number, title, render(text), places[number % 3]))
    articles.append(Article(999, "Unreleased", "<p>Not published yet.</p>", "payments", False))
    return articles


def _counting(embed: Callable[[Sequence[str]], Any], calls: list[int]) -> Callable[..., Any]:
    def wrapped(texts: Sequence[str]) -> Any:
        calls.append(len(texts))
        return embed(texts)

    return wrapped


async def main(vendor: str, folder: Path, edits: int) -> None:
    center: HelpCenter = HELP_CENTERS[vendor]()
    articles = load_articles(folder)
    os.environ[TOKEN_VARIABLE] = center.secret_value  # read by the engine at sync time
    with tempfile.TemporaryDirectory(prefix="helpdesk-bench-") as tmp, center.stub:
        center.publish(*articles)
        print(f"{vendor}: {len(articles) - 1} published articles + 1 draft from {folder}")
        settings = Settings(_env_file=None, data_dir=Path(tmp) / "data", reranker="none")  # type: ignore[call-arg]
        services = build_services(settings, warm=True)
        calls: list[int] = []
        embedder: Any = services.embedder
        embedder.embed_documents = _counting(embedder.embed_documents, calls)
        secrets = {center.secret_name: {"env": TOKEN_VARIABLE}}
        services.connected.put(KB, vendor, center.options(), secrets, None)
        try:
            await _run(services, center, "first sync", calls)
            published = [a for a in articles if a.published]
            for article in published[:edits]:
                center.edit(article.id, article.text + "<p>This paragraph was added later.</p>")
            center.remove(published[-1].id)
            center.publish(Article(5000, "A new article", "<p>Added between syncs.</p>", "2fa"))
            await _run(services, center, f"after {edits} edits, 1 delete, 1 add", calls)
            await _run(services, center, "nothing changed", calls)
        finally:
            await services.aclose()


async def _run(services: Any, center: HelpCenter, label: str, calls: list[int]) -> None:
    calls.clear()
    requests_before = len(center.stub.requests)
    run = await services.sync.sync(KB)
    counts = " ".join(f"{k}={v}" for k, v in run.counts.items())
    requests = len(center.stub.requests) - requests_before
    print(
        f"{label:32s} {run.seconds:7.1f} s  {counts}  requests={requests}  "
        f"texts_embedded={sum(calls)}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vendor", choices=sorted(HELP_CENTERS), default="zendesk")
    parser.add_argument("--folder", type=Path, default=ZULIP if ZULIP.is_dir() else SAMPLE)
    parser.add_argument("--edits", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.vendor, args.folder, args.edits))
