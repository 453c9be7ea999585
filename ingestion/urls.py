"""Document URLs and fallback titles.

URL rules, first that applies:
1. the document declares one (Markdown front matter `url` or `permalink`, HTML
   `<link rel="canonical">` / `og:url`): absolute URLs are kept; a relative one is
   resolved against `--base-url` like a link on that page (`/help/x` keeps only the
   base's host, `x` is appended to the base), else kept as written;
2. `--base-url` is given: base URL + the path without its extension, e.g.
   `https://example.com/help/` + `billing/refunds.md` → `https://example.com/help/billing/refunds`;
   an `index` file stands for its folder (`billing/index.md` → `.../help/billing/`);
3. otherwise the document has no URL.
"""

from __future__ import annotations

import posixpath
import re
from urllib.parse import quote, urljoin, urlsplit


def document_url(source_id: str, declared: str | None, base_url: str | None) -> str | None:
    if declared:
        if urlsplit(declared).scheme or not base_url:
            return declared
        return urljoin(_with_slash(base_url), declared)
    if not base_url:
        return None
    stem, _ = posixpath.splitext(source_id)
    if posixpath.basename(stem) == "index":
        stem = posixpath.dirname(stem)
        stem = f"{stem}/" if stem else ""
    return _with_slash(base_url) + quote(stem)


def _with_slash(base_url: str) -> str:
    return base_url if base_url.endswith("/") else f"{base_url}/"


def title_from_name(source_id: str) -> str:
    """`billing/how-refunds_work.md` → "How refunds work"."""
    stem = posixpath.splitext(posixpath.basename(source_id))[0]
    if stem == "index" and "/" in source_id:
        stem = posixpath.basename(posixpath.dirname(source_id))
    words = re.sub(r"[-_]+", " ", stem).strip() or source_id
    return words[:1].upper() + words[1:]
