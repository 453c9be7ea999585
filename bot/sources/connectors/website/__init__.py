"""The website source: a help center's public pages, from a sitemap or a crawl (see `connector`)."""
