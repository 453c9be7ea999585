"""A polite HTTP fetcher for crawling one website: paced, bounded, retried, conditional.

Every request passes one pacer (the slower of the configured rate and robots.txt's
crawl-delay) and one concurrency bound. 429 and 5xx answers and transport errors are
retried with exponential backoff and full jitter, or after the server's `Retry-After`.
Redirects are followed hop by hop so each target is checked against robots.txt and the
crawl scope before it is requested.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx

from bot.errors import SourceUnavailable
from bot.retry import RetryableStatus, RetryPolicy, retry_after_seconds
from bot.sources.connectors.http import with_retries
from bot.sources.connectors.website.policy import CrawlPolicy

RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


@dataclass(frozen=True, slots=True)
class Validators:
    """What the server said about a page's version, sent back on the next request."""

    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True, slots=True)
class Fetched:
    url: str
    """The URL that answered, after redirects."""
    status: int
    content: bytes
    content_type: str
    validators: Validators


class FetchFailed(Exception):
    """The page could not be fetched after retries (5xx, 429, timeouts, connection errors)."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"{url}: {reason}")
        self.url = url
        self.reason = reason


class Blocked(Exception):
    """A redirect led to a URL that robots.txt or the crawl scope rules out."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.url = url


class RequestPacer:
    """Spaces request starts at least `interval_s` apart, across all concurrent tasks."""

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self._next_start = 0.0
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        loop = asyncio.get_running_loop()
        async with self._lock:
            now = loop.time()
            delay = self._next_start - now
            self._next_start = max(now, self._next_start) + self.interval_s
        if delay > 0:
            await asyncio.sleep(delay)


class PoliteFetcher:
    """GETs pages of one site for a sync; `requests` counts every request sent (tests, reports)."""

    def __init__(
        self, client: httpx.AsyncClient, policy: CrawlPolicy, crawl_delay_s: float = 0.0
    ) -> None:
        self._client = client
        self._policy = policy
        self._pacer = RequestPacer(max(1.0 / policy.requests_per_second, crawl_delay_s))
        self._slots = asyncio.Semaphore(policy.concurrency)
        self._retry = RetryPolicy(
            attempts=policy.max_attempts,
            initial_wait_s=policy.backoff_initial_s,
            max_wait_s=policy.max_wait_s,
        )
        self.requests = 0

    def set_crawl_delay(self, crawl_delay_s: float) -> None:
        self._pacer.interval_s = max(1.0 / self._policy.requests_per_second, crawl_delay_s)

    async def get(
        self,
        url: str,
        *,
        validators: Validators | None = None,
        allowed: Callable[[str], bool] = lambda _url: True,
    ) -> Fetched:
        """Follow redirects (each hop checked by `allowed`); 304 comes back as a status.

        Validators go to every hop: they were issued by the page the redirects led to last
        time, and a redirect itself ignores them.
        """
        for _hop in range(self._policy.max_redirects + 1):
            fetched = await self._get_once(url, validators)
            if fetched.status not in REDIRECT_STATUSES:
                return fetched
            location = fetched.content.decode("latin-1")
            if not location:
                raise FetchFailed(url, f"HTTP {fetched.status} without a Location header")
            url = urljoin(url, location)
            if not allowed(url):
                raise Blocked(url)
        raise FetchFailed(url, f"more than {self._policy.max_redirects} redirects")

    async def _get_once(self, url: str, validators: Validators | None) -> Fetched:
        headers = {}
        if validators and validators.etag:
            headers["If-None-Match"] = validators.etag
        if validators and validators.last_modified:
            headers["If-Modified-Since"] = validators.last_modified
        try:
            return await with_retries(
                lambda: self._request(url, headers), self._retry, urlsplit(url).netloc
            )
        except SourceUnavailable as exc:  # the helper's words are about a whole listing
            cause = exc.__cause__
            what = str(cause) if isinstance(cause, RetryableStatus) else type(cause).__name__
            raise FetchFailed(url, f"{what}, still failing after retries") from exc

    async def _request(self, url: str, headers: dict[str, str]) -> Fetched:
        async with self._slots:
            await self._pacer.wait()
            self.requests += 1
            async with self._client.stream("GET", url, headers=headers) as response:
                content = await self._read_capped(response)
        if response.status_code in RETRYABLE_STATUSES:
            raise RetryableStatus(response.status_code, retry_after_seconds(response.headers))
        if response.status_code in REDIRECT_STATUSES:
            content = response.headers.get("location", "").encode("latin-1", "replace")
        return Fetched(
            url=str(response.url),
            status=response.status_code,
            content=content,
            content_type=response.headers.get("content-type", ""),
            validators=Validators(
                etag=response.headers.get("etag"),
                last_modified=response.headers.get("last-modified"),
            ),
        )

    async def _read_capped(self, response: httpx.Response) -> bytes:
        limit = self._policy.max_page_bytes
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > limit:
                raise FetchFailed(str(response.url), f"larger than {limit // 2**20} MiB")
            chunks.append(chunk)
        return b"".join(chunks)
