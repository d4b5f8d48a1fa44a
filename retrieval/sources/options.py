"""How sources are fetched (a light module: importing it does not load the HTTP client)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Options:
    """How a source is fetched (from :class:`~retrieval.config.Settings`, ``crawl_*``)."""

    delay: float = 0.5
    concurrency: int = 2
    timeout: float = 20.0
    max_pages: int = 5000
    max_page_bytes: int = 10_000_000
    max_source_bytes: int = 500_000_000
    max_redirects: int = 5
    sitemap_max_urls: int = 50_000
    git_timeout: float = 300.0
    guard: bool = False  # refuse non-public addresses (sources added through Discord)
    retries: int = 2  # on 429/503 with Retry-After

    @classmethod
    def of(cls, s, guard: bool = False) -> "Options":
        return cls(delay=s.crawl_delay, concurrency=s.crawl_concurrency, timeout=s.crawl_timeout,
                   max_pages=s.crawl_max_pages, max_page_bytes=int(s.crawl_max_page_mb * 1e6),
                   max_source_bytes=int(s.crawl_max_source_mb * 1e6), max_redirects=s.crawl_max_redirects,
                   sitemap_max_urls=s.sitemap_max_urls, git_timeout=s.git_timeout, guard=guard)
