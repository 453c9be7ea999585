"""Website source benchmark: the Zulip help center served as a website, synced twice, and
(with --compare) its retrieval quality against the same help center ingested as Markdown.

    .venv/bin/python -m benchmarks.website_sync [--compare] [--rate 50] [--concurrency 4]

1. Renders `../shared/eval/zulip-help` to HTML pages in site chrome (see
   `benchmarks.zulip_website`) and serves them on 127.0.0.1 with a sitemap index. Times one
   listing alone (fetch + extract), then runs the real sync engine twice on a fresh
   embedded data dir: counts, seconds, requests and 304s.
2. `--compare` also ingests the Markdown into a second KB and runs `supportbot eval` on
   both with the dev questions; for the crawled KB the labels `help/<name>.md` are mapped
   to the pages' canonical URLs `<base>/help/<name>` (in a temporary copy, never stored).
   Prints both tables and the paired difference of nDCG@10 with a bootstrap 95% interval.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.zulip_website import render_site, serve_folder
from bot.services import build_services
from bot.settings import Settings
from bot.sources.connectors.website.connector import WebsiteConnector, WebsiteSourceConfig
from bot.sources.connectors.website.policy import CrawlPolicy
from bot.sources.protocol import ConnectorState

SHARED_EVAL = Path(__file__).resolve().parent.parent.parent / "shared" / "eval"
WEB_KB = "zulip-web"
MARKDOWN_KB = "zulip-md"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def listing_only(base_url: str, log: list[tuple[str, int]], args: argparse.Namespace) -> None:
    """Crawl and extract without indexing: what the website source itself costs."""
    policy = CrawlPolicy(requests_per_second=args.rate, concurrency=args.concurrency)
    connector = WebsiteConnector(
        WebsiteSourceConfig(sitemap_url=f"{base_url}/sitemap.xml", policy=policy)
    )
    log.clear()
    started = time.perf_counter()
    items = [item async for item in connector.list_documents(ConnectorState())]
    seconds = time.perf_counter() - started
    print(
        f"listing only (fetch + extract, no index): {seconds:.1f} s for {len(items)} articles, "
        f"{len(items) / seconds:.1f} pages/s, {len(log)} HTTP requests"
    )


async def sync_twice(
    settings: Settings, base_url: str, log: list[tuple[str, int]], args: argparse.Namespace
) -> None:
    services = build_services(settings)
    try:
        options = {
            "url": f"{base_url}/sitemap.xml",
            "requests_per_second": args.rate,
            "concurrency": args.concurrency,
        }
        services.connected.put(WEB_KB, "sitemap", options, {}, None)
        for number in (1, 2):
            log.clear()
            started = time.perf_counter()
            run = await services.sync.sync(WEB_KB)
            seconds = time.perf_counter() - started
            statuses: dict[int, int] = {}
            for _, status in log:
                statuses[status] = statuses.get(status, 0) + 1
            print(
                f"sync {number}: {seconds:.1f} s  {run.status}  "
                + "  ".join(f"{key} {value}" for key, value in run.counts.items())
                + f"  | HTTP requests {len(log)} by status {dict(sorted(statuses.items()))}"
            )
    finally:
        await services.aclose()


def _eval(data_dir: Path, kb: str, queries: Path, out: Path) -> list[dict[str, object]]:
    env = {**os.environ, "SUPPORTBOT_DATA_DIR": str(data_dir)}
    env["SUPPORTBOT_RERANKER"] = "late-interaction"  # as the KBs were built (token vectors)
    command = [
        str(Path(sys.executable).parent / "supportbot"),
        "eval",
        "--kb",
        kb,
        "--queries",
        str(queries),
        "--json",
        str(out),
    ]
    subprocess.run(command, env=env, check=True)
    payload = json.loads(out.read_text())
    rows: list[dict[str, object]] = payload["pipelines"]
    return rows


def _mapped_questions(source: Path, target: Path, base_url: str) -> None:
    """Labels `help/<name>.md` → `<base>/help/<name>`, the crawled articles' source ids."""
    lines = []
    for line in source.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        row["relevant"] = [
            f"{base_url}/help/{Path(label).stem}" for label in row.get("relevant") or []
        ]
        lines.append(json.dumps(row))
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _paired_interval(
    a: dict[str, float], b: dict[str, float], rounds: int = 5000
) -> tuple[float, float, float]:
    """Mean of b − a over the shared questions and a bootstrap 95% interval."""
    keys = sorted(a.keys() & b.keys())
    diffs = [b[key] - a[key] for key in keys]
    rng = random.Random(12)
    means = sorted(sum(rng.choice(diffs) for _ in diffs) / len(diffs) for _ in range(rounds))
    return sum(diffs) / len(diffs), means[int(0.025 * rounds)], means[int(0.975 * rounds)]


def compare(settings: Settings, base_url: str, work: Path) -> None:
    async def ingest_markdown() -> None:
        services = build_services(settings)
        try:
            started = time.perf_counter()
            report = await services.ingestor.ingest(
                MARKDOWN_KB, SHARED_EVAL / "zulip-help", ignore=("SOURCE.md",)
            )
            print(
                f"markdown ingest: {time.perf_counter() - started:.1f} s, "
                f"{len(report.new)} documents, {report.chunks} chunks"
            )
        finally:
            await services.aclose()

    asyncio.run(ingest_markdown())
    questions = SHARED_EVAL / "zulip-dev.jsonl"
    mapped = work / "questions-web.jsonl"
    _mapped_questions(questions, mapped, base_url)
    web = _eval(settings.data_dir, WEB_KB, mapped, work / "eval-web.json")
    markdown = _eval(settings.data_dir, MARKDOWN_KB, questions, work / "eval-md.json")
    print_comparison(markdown, web)


def print_comparison(markdown: list[dict[str, object]], web: list[dict[str, object]]) -> None:
    print(
        "\npipeline        | Markdown nDCG@10 Hit@5 | crawled HTML nDCG@10 Hit@5 "
        "| Δ nDCG@10 [95% CI]"
    )
    for md_row, web_row in zip(markdown, web, strict=True):
        md_q = md_row["per_query"]
        web_q = web_row["per_query"]
        assert isinstance(md_q, dict) and isinstance(web_q, dict)
        mean, low, high = _paired_interval(md_q, web_q)
        print(
            f"{md_row['name']:<15} | {md_row['ndcg_at_10']:.3f}  {md_row['hit_at_5']:.3f}"
            f"            | {web_row['ndcg_at_10']:.3f}  {web_row['hit_at_5']:.3f}"
            f"                | {mean:+.3f} [{low:+.3f}, {high:+.3f}]"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--compare", action="store_true", help="also compare with Markdown")
    parser.add_argument("--rate", type=float, default=50.0, help="requests per second")
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    if not (SHARED_EVAL / "zulip-help").is_dir():
        sys.exit(f"{SHARED_EVAL} not found: this benchmark needs the shared evaluation data")
    with tempfile.TemporaryDirectory(prefix="supportbot-website-") as tmp:
        work = Path(tmp)
        port = _free_port()
        base_url = f"http://127.0.0.1:{port}"
        names = render_site(SHARED_EVAL / "zulip-help", work / "site", base_url)
        print(
            f"site: {len(names)} articles at {base_url} "
            f"(rate {args.rate}/s, concurrency {args.concurrency})"
        )
        settings = Settings(_env_file=None, data_dir=work / "data", reranker="late-interaction")
        with serve_folder(work / "site", port) as log:
            asyncio.run(listing_only(base_url, log, args))
            asyncio.run(sync_twice(settings, base_url, log, args))
            if args.compare:
                compare(settings, base_url, work)


if __name__ == "__main__":
    main()
