"""sitemap.xml files (sitemaps.org protocol): URL sets and sitemap indexes, plain or gzipped.

The XML parser resolves no entities and reaches no network, so a hostile sitemap cannot
read local files or expand into gigabytes.
"""

from __future__ import annotations

import gzip
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime

from lxml import etree

GZIP_MAGIC = b"\x1f\x8b"
MAX_UNPACKED_BYTES = 50 * 2**20
"""The protocol caps a sitemap at 50 MB uncompressed."""


class SitemapInvalid(Exception):
    """The file is not a sitemap (or sitemap index) that can be read."""


@dataclass(frozen=True, slots=True)
class SitemapEntry:
    url: str
    lastmod: str | None = None
    """As written in the sitemap; compared verbatim between syncs."""

    @property
    def lastmod_at(self) -> datetime | None:
        return parse_lastmod(self.lastmod)


@dataclass(frozen=True, slots=True)
class Sitemap:
    pages: list[SitemapEntry] = field(default_factory=list)
    sitemaps: list[str] = field(default_factory=list)
    """Child sitemaps listed by a sitemap index."""


def parse_sitemap(data: bytes) -> Sitemap:
    data = _gunzip(data) if data[:2] == GZIP_MAGIC else data
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, huge_tree=False, remove_comments=True
    )
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise SitemapInvalid(f"not well-formed XML: {exc}") from exc
    kind = etree.QName(root).localname
    if kind not in ("urlset", "sitemapindex"):
        raise SitemapInvalid(f"root element is <{kind}>, expected <urlset> or <sitemapindex>")
    entries = []
    for item in root:
        if not isinstance(item.tag, str):
            continue
        values = {etree.QName(child).localname: (child.text or "").strip() for child in item}
        if values.get("loc"):
            entries.append(SitemapEntry(values["loc"], values.get("lastmod") or None))
    if kind == "sitemapindex":
        return Sitemap(sitemaps=[entry.url for entry in entries])
    return Sitemap(pages=entries)


def _gunzip(data: bytes) -> bytes:
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        unpacked = inflater.decompress(data, MAX_UNPACKED_BYTES + 1)
    except (zlib.error, gzip.BadGzipFile) as exc:
        raise SitemapInvalid(f"corrupt gzip data: {exc}") from exc
    if len(unpacked) > MAX_UNPACKED_BYTES:
        raise SitemapInvalid(f"unpacks to more than {MAX_UNPACKED_BYTES // 2**20} MB")
    return unpacked


def parse_lastmod(value: str | None) -> datetime | None:
    """W3C datetime (`2026-11-30`, `2026-11-30T08:15:00+00:00`, `...Z`); None if unreadable."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
