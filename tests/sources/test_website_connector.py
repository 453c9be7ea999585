"""The website source against a real local website: what one listing yields and requests."""

from __future__ import annotations

import gzip
from collections.abc import Iterator

import pytest

from bot.errors import InvalidRequest, SourceUnavailable
from bot.sources.catalog import connector_type
from bot.sources.connectors.website.connector import WebsiteConnector, WebsiteSourceConfig
from bot.sources.connectors.website.policy import CrawlPolicy
from bot.sources.connectors.website.sitemap import SitemapInvalid, parse_sitemap
from bot.sources.protocol import (
    Connector,
    ConnectorState,
    Failed,
    ListingItem,
    SourceDocument,
    Unchanged,
)
from tests.support.connectors import USER_AGENT, connector_env
from tests.support.website import BOILERPLATE_PHRASES, CRAWL_DELAY_S, HelpSite, help_center, served

ARTICLES = {
    "/help/reset-password",
    "/help/mute-a-topic",
    "/help/billing-invoices",
    "/help/print-messages",
    "/help/export-data",
    "/help/retired-feature",
}
FAST = CrawlPolicy(requests_per_second=200, backoff_initial_s=0.01, max_wait_s=2.0)


@pytest.fixture
def site() -> Iterator[HelpSite]:
    with served(help_center()) as running:
        yield running


def sitemap_connector(site: HelpSite, policy: CrawlPolicy = FAST) -> WebsiteConnector:
    return WebsiteConnector(
        WebsiteSourceConfig(sitemap_url=site.url("/sitemap.xml"), policy=policy)
    )


async def listing(
    connector: WebsiteConnector, state: ConnectorState | None = None
) -> dict[str, ListingItem]:
    """One listing, keeping `state` as the sync engine does (`indexed` = what it listed)."""
    state = state if state is not None else ConnectorState()
    items = [item async for item in connector.list_documents(state)]
    keys = [item.key for item in items]
    assert len(keys) == len(set(keys)), "one item per article"
    state.indexed = frozenset(
        key for key, item in zip(keys, items, strict=True) if not isinstance(item, Failed)
    )
    return dict(zip(keys, items, strict=True))


def articles(items: dict[str, ListingItem]) -> set[str]:
    return {key for key, item in items.items() if not isinstance(item, Failed)}


async def test_first_listing_yields_each_article_once_as_clean_markdown(site: HelpSite) -> None:
    connector = sitemap_connector(site)
    items = await listing(connector)

    assert articles(items) == {site.url(path) for path in ARTICLES}
    assert isinstance(items[site.url("/help/broken")], Failed)
    documents = [item for item in items.values() if isinstance(item, SourceDocument)]
    assert len(documents) == len(ARTICLES)
    for doc in documents:
        assert doc.url == doc.key and doc.body_format == "markdown"
        for phrase in BOILERPLATE_PHRASES:
            assert phrase.lower() not in doc.body.lower(), (doc.key, phrase)
    mute = items[site.url("/help/mute-a-topic")]
    assert isinstance(mute, SourceDocument)
    assert mute.title == "Mute a topic" and mute.locale == "en"
    assert "## With the API" in mute.body and "### Limits per plan" in mute.body
    assert "| Free | 100 |" in mute.body and "-d topic=standup" in mute.body
    assert "- Hover over the topic" in mute.body
    reset = items[site.url("/help/reset-password")]
    assert isinstance(reset, SourceDocument)
    assert "1. Click **Forgot password?**" in reset.body
    assert reset.updated_at is not None and reset.updated_at.date().isoformat() == "2026-11-30"

    report = connector.report
    assert report.duplicates == {
        site.url("/help/print-messages?from=sidebar"): site.url("/help/print-messages"),
        site.url("/help/old-export"): site.url("/help/export-data"),
        site.url("/help/billing-invoices-copy"): site.url("/help/billing-invoices"),
    }
    assert set(report.failed) == {site.url("/help/broken")}
    assert report.skipped == {site.url("/help/missing"): "HTTP 404"}
    assert report.disallowed == [site.url("/help/internal/runbook")]
    assert not site.requests_for("/help/internal/runbook")
    assert site.log[0].path == "/robots.txt"
    agents = {entry.user_agent for entry in site.log}
    assert agents == {FAST.agent} and FAST.agent.startswith("supportbot-sync/")
    assert report.requests == len(site.log)


async def test_resync_asks_conditionally_and_sees_edits_and_removals(site: HelpSite) -> None:
    connector, state = sitemap_connector(site), ConnectorState()
    await listing(connector, state)
    site.edit("/help/mute-a-topic", "Muted topics also stop sending email notifications.")
    site.edit("/help/reset-password", "Reset links now expire after two hours.", "2026-12-02")
    del site.pages["/help/retired-feature"]
    site.log.clear()

    items = await listing(connector, state)

    assert articles(items) == {site.url(path) for path in ARTICLES - {"/help/retired-feature"}}
    fresh = {key for key, item in items.items() if isinstance(item, SourceDocument)}
    assert fresh == {site.url("/help/mute-a-topic"), site.url("/help/reset-password")}
    mute = items[site.url("/help/mute-a-topic")]
    assert isinstance(mute, SourceDocument) and "stop sending email" in mute.body
    # Unchanged pages: the print article's sitemap lastmod held (not requested at all);
    # the others were asked "changed since?" and answered 304.
    assert not site.requests_for("/help/print-messages")
    assert site.statuses_seen(304) == connector.report.not_modified == 5
    conditional = [entry.path for entry in site.log if entry.conditional]
    assert "/help/mute-a-topic" in conditional and "/help/billing-invoices" in conditional
    assert not site.requests_for("/help/retired-feature")  # gone from the sitemap


async def test_a_500_storm_fails_the_listing_and_the_next_one_completes(site: HelpSite) -> None:
    connector, state = sitemap_connector(site), ConnectorState()
    await listing(connector, state)
    remembered = repr(state)
    site.storm = True
    with pytest.raises(SourceUnavailable, match="could not be fetched"):
        await listing(connector, state)
    assert repr(state) == remembered

    site.storm = False
    items = await listing(connector, state)
    assert articles(items) == {site.url(path) for path in ARTICLES}


async def test_a_single_failing_page_keeps_its_indexed_version(site: HelpSite) -> None:
    connector, state = sitemap_connector(site), ConnectorState()
    await listing(connector, state)
    site.statuses["/help/mute-a-topic"] = 503
    items = await listing(connector, state)
    failed = items[site.url("/help/mute-a-topic")]
    assert isinstance(failed, Failed) and "HTTP 503" in failed.reason
    assert site.url("/help/mute-a-topic") in connector.report.failed


async def test_429_waits_for_retry_after(site: HelpSite) -> None:
    site.throttle_once.add("/help/mute-a-topic")
    items = await listing(sitemap_connector(site))
    assert isinstance(items[site.url("/help/mute-a-topic")], SourceDocument)
    first, second = site.requests_for("/help/mute-a-topic")
    assert first.status == 429 and second.status == 200
    assert second.at - first.at >= 0.9


async def test_requests_are_spaced_by_the_crawl_delay(site: HelpSite) -> None:
    policy = CrawlPolicy(requests_per_second=1000, concurrency=8, backoff_initial_s=0.01)
    await listing(sitemap_connector(site, policy))
    after_robots = site.log[1:]
    span = after_robots[-1].at - after_robots[0].at
    assert span >= (len(after_robots) - 1) * CRAWL_DELAY_S * 0.9


async def test_crawl_from_a_start_url_stays_in_scope_and_follows_noindex_pages(
    site: HelpSite,
) -> None:
    config = WebsiteSourceConfig(start_url=site.url("/help/"), policy=FAST)
    connector, state = WebsiteConnector(config), ConnectorState()
    items = await listing(connector, state)
    assert articles(items) == {site.url(path) for path in ARTICLES}
    assert connector.report.skipped[site.url("/help/")].startswith("the page asks not to be")
    assert not site.requests_for("/blog/launch") and not site.requests_for("/pricing")
    assert not site.requests_for("/help/internal/runbook")

    site.log.clear()
    again = await listing(connector, state)
    assert articles(again) == articles(items)
    assert all(isinstance(again[key], Unchanged) for key in articles(items))

    site.statuses["/help/"] = 503  # without its start page a crawl cannot be complete
    with pytest.raises(SourceUnavailable, match="start page failed"):
        await listing(connector, state)


def test_sitemaps_parse_plain_gzipped_and_indexes() -> None:
    urlset = (
        b'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        b"<url><loc> https://x.test/a </loc><lastmod>2026-11-30</lastmod></url>"
        b"<url><loc>https://x.test/b</loc></url></urlset>"
    )
    parsed = parse_sitemap(gzip.compress(urlset))
    assert [(e.url, e.lastmod) for e in parsed.pages] == [
        ("https://x.test/a", "2026-11-30"),
        ("https://x.test/b", None),
    ]
    index = b"<sitemapindex><sitemap><loc>https://x.test/s1.xml</loc></sitemap></sitemapindex>"
    assert parse_sitemap(index).sitemaps == ["https://x.test/s1.xml"]
    with pytest.raises(SitemapInvalid, match="expected <urlset>"):
        parse_sitemap(b"<html><body>not a sitemap</body></html>")
    with pytest.raises(SitemapInvalid, match="well-formed"):
        parse_sitemap(b"<urlset><url>")


def test_sitemap_entities_are_not_resolved() -> None:
    hostile = (
        b'<?xml version="1.0"?><!DOCTYPE u [<!ENTITY x SYSTEM "file:///etc/hostname">]>'
        b"<urlset><url><loc>https://x.test/&x;</loc></url></urlset>"
    )
    pages = parse_sitemap(hostile).pages
    assert all("/etc/" not in e.url and len(e.url) < 40 for e in pages)


def test_source_types_build_connectors_and_refuse_unusable_options() -> None:
    env = connector_env()
    sitemap_type = connector_type("sitemap")
    options = sitemap_type.options.model_validate(
        {"url": "https://help.example.com/sitemap.xml", "include_prefix": ["/articles/"]}
    )
    connector: Connector = sitemap_type.build(options, env)
    assert connector.kind == "sitemap"
    crawl = connector_type("website").build(
        connector_type("website").options.model_validate({"url": "https://x.test/help/start"}),
        env,
    )
    assert isinstance(crawl, WebsiteConnector) and crawl.config.prefixes == ("/help/",)
    assert crawl.config.policy.agent == USER_AGENT
    with pytest.raises(InvalidRequest, match="not an http"):
        sitemap_type.build(sitemap_type.options.model_validate({"url": "ftp://x.test/s.xml"}), env)
    with pytest.raises(InvalidRequest, match="starting with '/'"):
        sitemap_type.build(
            sitemap_type.options.model_validate(
                {"url": "https://x.test/s.xml", "include_prefix": ["articles"]}
            ),
            env,
        )
