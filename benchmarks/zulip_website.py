"""The Zulip help center (shared/eval, Markdown) as a website: HTML pages in site chrome,
a sitemap index (one plain, one gzipped sitemap) and robots.txt, served on loopback.

Each article is prepared exactly as the Markdown ingest reads it (includes expanded,
Zulip macros and admonitions rendered), then rendered to HTML by markdown-it and wrapped
in chrome a real help center has around it: header navigation, a cookie banner, a sidebar
listing every article, a footer. Pages live at `/help/<name>` like zulip.com's, so
the label `help/<name>.md` maps to the URL `<base>/help/<name>`.
"""

from __future__ import annotations

import gzip
import html
import posixpath
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from markdown_it import MarkdownIt

from ingestion.admonitions import rewrite_admonitions
from ingestion.collect import collect_documents
from ingestion.front_matter import split_front_matter
from ingestion.ignore import source_rules
from ingestion.includes import IncludeExpander
from ingestion.parsing import DocumentParser, default_markup
from ingestion.sources import open_source

CHROME = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>{title} | Zulip help center</title>
<link rel="canonical" href="{canonical}">
</head><body>
<header class="top"><a href="/">Zulip</a>
<nav><a href="/features/">Features</a> <a href="/plans/">Pricing</a> <a href="/apps/">Download</a>
<a href="/login/">Log in</a></nav></header>
<div class="cookie-banner" id="cookie-consent"><p>This website uses cookies to give you the
best experience. Manage your preferences or accept all cookies to continue.</p>
<button>Accept all</button> <button>Manage preferences</button></div>
<div class="app"><nav class="sidebar"><h3>Help center</h3><ul>{sidebar}</ul></nav>
<main class="markdown"><article>
{body}
</article></main></div>
<footer><p>Zulip is open-source software. © Kandra Labs, Inc. All rights reserved.</p>
<a href="/privacy/">Privacy</a> <a href="/terms/">Terms</a> <a href="/jobs/">Jobs</a></footer>
</body></html>
"""


def page_name(source_id: str) -> str:
    return posixpath.splitext(source_id)[0]


def render_site(help_center: Path, out: Path, base_url: str) -> list[str]:
    """Write the site under `out`; return the article names (`mute-a-topic`, ...)."""
    md = MarkdownIt("commonmark").enable(["table", "strikethrough"])
    markup = default_markup()
    with open_source(help_center) as tree:
        rules = source_rules(tree, ("SOURCE.md",), ())
        documents = collect_documents(tree, DocumentParser(), ignore=rules).documents
        includes = IncludeExpander(tree)
        pages = {}
        for doc in sorted(documents, key=lambda d: d.source_id):
            _, text = split_front_matter(tree.read_bytes(doc.source_id).decode("utf-8"))
            text = rewrite_admonitions(markup.render(includes.expand(text, doc.source_id).text))
            pages[page_name(doc.source_id)] = (doc.title, md.render(text))
    sidebar = "".join(
        f'<li><a href="/help/{name}">{html.escape(title)}</a></li>'
        for name, (title, _) in pages.items()
    )
    (out / "help").mkdir(parents=True, exist_ok=True)
    for name, (title, body) in pages.items():
        page = CHROME.format(
            title=html.escape(title),
            canonical=f"{base_url}/help/{name}",
            sidebar=sidebar,
            body=body,
        )
        (out / "help" / name).write_text(page, encoding="utf-8")
    names = list(pages)
    half = len(names) // 2
    (out / "sitemaps").mkdir(exist_ok=True)
    (out / "sitemaps" / "help-1.xml").write_text(
        _urlset(base_url, names[:half], lastmod="2026-12-01"), encoding="utf-8"
    )
    (out / "sitemaps" / "help-2.xml.gz").write_bytes(
        gzip.compress(_urlset(base_url, names[half:], lastmod=None).encode())
    )
    children = "".join(
        f"<sitemap><loc>{base_url}/sitemaps/{child}</loc></sitemap>"
        for child in ("help-1.xml", "help-2.xml.gz")
    )
    (out / "sitemap.xml").write_text(
        '<?xml version="1.0" encoding="UTF-8"?><sitemapindex xmlns='
        f'"http://www.sitemaps.org/schemas/sitemap/0.9">{children}</sitemapindex>',
        encoding="utf-8",
    )
    (out / "robots.txt").write_text("User-agent: *\nDisallow: /api/\n", encoding="utf-8")
    return names


def _urlset(base_url: str, names: list[str], lastmod: str | None) -> str:
    stamp = f"<lastmod>{lastmod}</lastmod>" if lastmod else ""
    rows = "".join(f"<url><loc>{base_url}/help/{name}</loc>{stamp}</url>" for name in names)
    return (
        '<?xml version="1.0" encoding="UTF-8"?><urlset xmlns='
        f'"http://www.sitemaps.org/schemas/sitemap/0.9">{rows}</urlset>'
    )


class _Handler(SimpleHTTPRequestHandler):
    """Static files; extension-less article paths are HTML; Last-Modified / 304 built in."""

    extensions_map = {  # noqa: RUF012 (the stdlib declares it a plain class attribute)
        **SimpleHTTPRequestHandler.extensions_map,
        "": "text/html; charset=utf-8",
    }
    requests_seen: list[tuple[str, int]]

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        self.requests_seen.append((self.path, int(code) if str(code).isdigit() else 0))

    def log_message(self, format: str, *args: object) -> None:
        return


@contextmanager
def serve_folder(root: Path, port: int) -> Iterator[list[tuple[str, int]]]:
    """Serve `root` on 127.0.0.1:`port`; yields the (path, status) log, appended live."""
    seen: list[tuple[str, int]] = []
    handler = type("Handler", (_Handler,), {"requests_seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", port), partial(handler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
