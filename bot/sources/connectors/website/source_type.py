"""The `sitemap` and `website` source types: options, and how they build the connector.

`sitemap` reads a sitemap.xml (or a sitemap index); `website` crawls from a start page,
following links within the include prefixes (default: the start page's folder).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from bot.errors import InvalidRequest
from bot.sources.connectors.website.connector import WebsiteConnector, WebsiteSourceConfig
from bot.sources.connectors.website.policy import CrawlPolicy
from bot.sources.protocol import ConnectorEnv, ConnectorType


class WebsiteOptions(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str = Field(
        description="The sitemap.xml (type sitemap) or the start page (type website), http(s)."
    )
    include_prefix: list[str] = Field(
        default_factory=list,
        description="URL path prefixes of the articles, e.g. /articles/ (repeatable); "
        "default: the whole site for a sitemap, the start page's folder for a crawl.",
    )
    requests_per_second: float = Field(
        2.0, gt=0, le=100, description="Upper bound; robots.txt's crawl-delay can only slow it."
    )
    concurrency: int = Field(4, ge=1, le=32, description="Requests in flight at once.")
    max_pages: int = Field(10_000, ge=1, description="Refuse sites listing more pages than this.")
    retries: int = Field(
        4, ge=0, le=10, description="Retries of a page answering 429, 5xx or timing out."
    )
    trust_lastmod: bool = Field(
        True, description="Skip pages whose sitemap lastmod has not changed since the last sync."
    )


def build_connector(options: BaseModel, env: ConnectorEnv, *, crawl: bool) -> WebsiteConnector:
    if not isinstance(options, WebsiteOptions):
        raise InvalidRequest("website sources take WebsiteOptions")
    policy = CrawlPolicy(
        user_agent=env.user_agent,
        requests_per_second=options.requests_per_second,
        concurrency=options.concurrency,
        timeout_s=env.timeout_s,
        max_pages=options.max_pages,
        max_attempts=options.retries + 1,
        trust_lastmod=options.trust_lastmod,
    )
    config = WebsiteSourceConfig(
        sitemap_url=None if crawl else options.url,
        start_url=options.url if crawl else None,
        include_prefixes=tuple(options.include_prefix),
        policy=policy,
    )
    return WebsiteConnector(config)


def build_sitemap(options: BaseModel, env: ConnectorEnv) -> WebsiteConnector:
    return build_connector(options, env, crawl=False)


def build_website(options: BaseModel, env: ConnectorEnv) -> WebsiteConnector:
    return build_connector(options, env, crawl=True)


SITEMAP = ConnectorType(
    kind="sitemap",
    options=WebsiteOptions,
    build=build_sitemap,
    summary="A website's articles from its sitemap.xml (indexes, gzip, lastmod).",
)
WEBSITE = ConnectorType(
    kind="website",
    options=WebsiteOptions,
    build=build_website,
    summary="A website crawled from a start page within path prefixes.",
)
