"""A small help-center website served for real on loopback, for the website source's tests.

Articles are the HTML fragments in `tests/support/website_pages/`, wrapped in site chrome (header
navigation, a cookie banner, a related-articles list, a footer) whose words must never
reach the index. The site has a sitemap index with one plain and one gzipped sitemap,
robots.txt with a disallowed folder and a crawl-delay, a redirect, a canonical duplicate,
an identical copy, a 500 page and a 404 page; it answers conditional requests (ETag or
Last-Modified) and logs every request it receives.
"""

from __future__ import annotations

import gzip
import hashlib
import html
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import FastAPI, Request, Response

from tests.support.live_server import serve

PAGES_DIR = Path(__file__).parent / "website_pages"
BOILERPLATE_PHRASES = (
    "Pricing",
    "Careers",
    "cookie",
    "Related articles",
    "All rights reserved",
    "Privacy policy",
    "Lumen Help Center",
)
CRAWL_DELAY_S = 0.05

CHROME = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>{title} | Lumen Help Center</title>
<link rel="canonical" href="{canonical}">
<link rel="stylesheet" href="/static/site.css"></head>
<body>
<header class="site-header"><a class="logo" href="/">Lumen</a>
<nav><a href="/pricing">Pricing</a> <a href="/careers">Careers</a> <a href="/blog">Blog</a>
<a href="/help/">Help Center</a></nav></header>
<div id="cookie-banner" class="cookie-consent"><p>We use cookies to improve your experience on
our website. By continuing to browse you accept our cookie policy.</p>
<button>Accept all cookies</button></div>
<main><article>
{body}
</article>
<aside class="related-articles"><h2>Related articles</h2><ul>{related}</ul></aside>
</main>
<footer><p>© 2026 Lumen Software Inc. All rights reserved.</p>
<a href="/privacy">Privacy policy</a> <a href="/terms">Terms of service</a></footer>
</body></html>
"""


@dataclass
class Page:
    body: str
    title: str
    lastmod: str | None = None
    """Listed in the sitemap when set; pages without one are re-checked conditionally."""
    use_etag: bool = True
    """ETag validator, else Last-Modified."""
    modified: str = "Mon, 30 Nov 2026 08:00:00 GMT"
    canonical: str | None = None
    """Path the page declares as canonical (default: its own path)."""
    gzipped_sitemap: bool = False


@dataclass(frozen=True)
class Logged:
    path: str
    status: int
    user_agent: str
    conditional: bool
    at: float


@dataclass
class HelpSite:
    pages: dict[str, Page] = field(default_factory=dict)
    listed_only: dict[str, bool] = field(default_factory=dict)
    """Paths listed in the sitemap that are not articles (value: in the gzipped one)."""
    redirects: dict[str, str] = field(default_factory=dict)
    statuses: dict[str, int] = field(default_factory=dict)
    """Fixed answers for some paths (a broken page, a missing one)."""
    storm: bool = False
    """Every /help/ page answers 500 (a server falling over mid-sync)."""
    throttle_once: set[str] = field(default_factory=set)
    """Paths that answer 429 with Retry-After the first time."""
    log: list[Logged] = field(default_factory=list)
    base_url: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str) -> str:
        return self.base_url + path

    def requests_for(self, path: str) -> list[Logged]:
        return [entry for entry in self.log if entry.path == path]

    def statuses_seen(self, status: int) -> int:
        return sum(entry.status == status for entry in self.log)

    def edit(self, path: str, new_paragraph: str, lastmod: str | None = None) -> None:
        page = self.pages[path]
        page.body = page.body.replace("</h1>", f"</h1>\n<p>{html.escape(new_paragraph)}</p>", 1)
        page.modified = "Wed, 02 Dec 2026 09:00:00 GMT"
        if lastmod:
            page.lastmod = lastmod

    def html_for(self, path: str) -> str:
        page = self.pages[path]
        others = [p for p in self.pages if p != path][:3]
        related = "".join(f'<li><a href="{p}">{self.pages[p].title}</a></li>' for p in others)
        canonical = self.url(page.canonical or path)
        return CHROME.format(title=page.title, canonical=canonical, body=page.body, related=related)

    def sitemap(self, gzipped: bool) -> str:
        rows = []
        for path, page in self.pages.items():
            if page.gzipped_sitemap == gzipped and page.canonical is None:
                lastmod = f"<lastmod>{page.lastmod}</lastmod>" if page.lastmod else ""
                rows.append(f"<url><loc>{html.escape(self.url(path))}</loc>{lastmod}</url>")
        for path, in_gz in self.listed_only.items():
            if in_gz == gzipped:
                rows.append(f"<url><loc>{html.escape(self.url(path))}</loc></url>")
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            + "".join(rows)
            + "</urlset>"
        )


def article(name: str, **options: object) -> Page:
    body = (PAGES_DIR / f"{name}.html").read_text(encoding="utf-8")
    title = body.split("<h1>", 1)[1].split("</h1>", 1)[0]
    return Page(body=body, title=title, **options)  # type: ignore[arg-type]


def help_center() -> HelpSite:
    """The standard test site (see the module docstring)."""
    site = HelpSite()
    site.pages = {
        "/help/reset-password": article("reset-password", lastmod="2026-11-30"),
        "/help/mute-a-topic": article("mute-a-topic"),
        "/help/billing-invoices": article("billing-invoices", use_etag=False),
        "/help/print-messages": article("print-messages", lastmod="2026-11-29T10:00:00Z"),
        "/help/print-messages?from=sidebar": article(
            "print-messages", canonical="/help/print-messages"
        ),
        "/help/export-data": article("export-data", gzipped_sitemap=True),
        "/help/retired-feature": article("retired-feature", gzipped_sitemap=True),
        "/help/billing-invoices-copy": article("billing-invoices", gzipped_sitemap=True),
        "/help/internal/runbook": article("internal-runbook", gzipped_sitemap=True),
    }
    site.listed_only = {
        "/help/print-messages?from=sidebar": False,
        "/help/old-export": False,
        "/help/broken": True,
        "/help/missing": True,
    }
    site.redirects = {"/help/old-export": "/help/export-data"}
    site.statuses = {"/help/broken": 500, "/help/missing": 404}
    return site


def _app(site: HelpSite) -> FastAPI:
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @app.api_route("/{path:path}", methods=["GET"])
    async def everything(request: Request, path: str) -> Response:
        full = "/" + path + (f"?{request.url.query}" if request.url.query else "")
        response = _answer(site, request, full)
        conditional = bool(
            request.headers.get("if-none-match") or request.headers.get("if-modified-since")
        )
        with site._lock:
            site.log.append(
                Logged(
                    full,
                    response.status_code,
                    request.headers.get("user-agent", ""),
                    conditional,
                    time.monotonic(),
                )
            )
        return response

    return app


def _answer(site: HelpSite, request: Request, path: str) -> Response:
    if path == "/robots.txt":
        return Response(
            "User-agent: *\nDisallow: /help/internal/\n"
            f"Crawl-delay: {CRAWL_DELAY_S}\nSitemap: {site.url('/sitemap.xml')}\n",
            media_type="text/plain",
        )
    if path == "/sitemap.xml":
        index = "".join(
            f"<sitemap><loc>{site.url(p)}</loc></sitemap>"
            for p in ("/sitemaps/help.xml", "/sitemaps/more.xml.gz")
        )
        return Response(
            '<?xml version="1.0" encoding="UTF-8"?>'
            f'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{index}</sitemapindex>',
            media_type="application/xml",
        )
    if path == "/sitemaps/help.xml":
        return Response(site.sitemap(False), media_type="application/xml")
    if path == "/sitemaps/more.xml.gz":
        return Response(gzip.compress(site.sitemap(True).encode()), media_type="application/gzip")
    if path in site.statuses:
        return Response("error page", status_code=site.statuses[path], media_type="text/html")
    if path == "/help/":
        links = "".join(
            f'<li><a href="{p}">{page.title}</a></li>' for p, page in site.pages.items()
        )
        return Response(
            '<html><head><title>Lumen Help Center</title><meta name="robots" '
            f'content="noindex, follow"></head><body><h1>All articles</h1><ul>{links}</ul>'
            '<a href="/blog/launch">Our launch</a></body></html>',
            media_type="text/html",
        )
    if path in site.throttle_once:
        site.throttle_once.discard(path)
        return Response("slow down", status_code=429, headers={"Retry-After": "1"})
    if site.storm and path.startswith("/help/"):
        return Response("upstream timeout", status_code=500)
    if path in site.redirects:
        return Response(status_code=301, headers={"Location": site.redirects[path]})
    page = site.pages.get(path)
    if page is None:
        return Response("<h1>Not found</h1>", status_code=404, media_type="text/html")
    body = site.html_for(path)
    if page.use_etag:
        tag = '"' + hashlib.sha256(body.encode()).hexdigest()[:16] + '"'
        if request.headers.get("if-none-match") == tag:
            return Response(status_code=304, headers={"ETag": tag})
        return Response(body, media_type="text/html", headers={"ETag": tag})
    if request.headers.get("if-modified-since") == page.modified:
        return Response(status_code=304, headers={"Last-Modified": page.modified})
    return Response(body, media_type="text/html", headers={"Last-Modified": page.modified})


@contextmanager
def served(site: HelpSite) -> Iterator[HelpSite]:
    with serve(_app(site)) as base_url:
        site.base_url = base_url
        yield site
