"""A polite HTTP client for the crawler (aiohttp): a User-Agent naming citebot, per-host delay and
concurrency, redirects followed by hand (counted, kept in scope, loops caught), ``Retry-After`` on
429/503, timeouts, a size cap read as the body streams, and — for URLs given through Discord — no
connection to a loopback, private, link-local, multicast or reserved address, checked on the address
actually connected to (each redirect is a new request, so each is checked)."""

from __future__ import annotations

import asyncio
import email.utils
import ipaddress
import time
from dataclasses import dataclass, field

import aiohttp

from retrieval.sources.options import Options
from retrieval.sources.urls import Refused, check_address, host_of, in_scope, normalize

USER_AGENT = "citebot/0.1 (documentation indexer; honours robots.txt)"
ROBOTS_AGENT = "citebot"  # the name robots.txt rules address
REDIRECTS = (301, 302, 303, 307, 308)
MAX_RETRY_AFTER = 60.0  # a longer wait counts as a failure this time; the next refresh tries again


@dataclass
class Response:
    """What one GET gave: the final URL (after redirects), status, headers (lower-case keys) and body,
    or ``error``, a one-line reason (timeout, DNS, TLS, a redirect loop, over the size limit…)."""

    url: str
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    error: str | None = None

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()


class _GuardedResolver(aiohttp.ThreadedResolver):
    """Resolves as usual, then refuses the host when any of its addresses is not public (so a name that
    resolves to 127.0.0.1 or 169.254.169.254 is never connected to)."""

    async def resolve(self, host, port=0, family=0):
        infos = await super().resolve(host, port, family)
        for info in infos:
            try:
                check_address(info["host"])
            except Refused as e:
                raise OSError(f"refused: {host} resolves to {e}") from None
        return infos


class Client:
    """One crawl's HTTP session. Use as ``async with Client(options) as c``."""

    def __init__(self, options: Options):
        self.o = options
        self.requests = 0
        self.bytes = 0
        self._sems: dict[str, asyncio.Semaphore] = {}
        self._next: dict[str, float] = {}
        self.delays: dict[str, float] = {}  # per host, raised by robots.txt's Crawl-delay

    async def __aenter__(self) -> "Client":
        connector = aiohttp.TCPConnector(limit=64, resolver=_GuardedResolver() if self.o.guard else None)
        self.session = aiohttp.ClientSession(
            connector=connector, headers={"User-Agent": USER_AGENT},
            timeout=aiohttp.ClientTimeout(total=self.o.timeout, sock_connect=self.o.timeout),
            auto_decompress=True)
        return self

    async def __aexit__(self, *exc) -> None:
        await self.session.close()

    async def _slot(self, host: str) -> None:
        """Wait for this host's next request slot (its delay after the previous one)."""
        delay = max(self.o.delay, self.delays.get(host, 0.0))
        now = time.monotonic()
        at = max(now, self._next.get(host, 0.0))
        self._next[host] = at + delay
        if at > now:
            await asyncio.sleep(at - now)

    async def get(self, url: str, headers: dict | None = None, scope: str | None = None,
                  max_bytes: int | None = None) -> Response:
        """GET ``url``; redirects followed only within ``scope`` (when given), at most ``max_redirects``."""
        chain = [url]
        retries = self.o.retries
        while True:
            if self.o.guard:
                try:
                    _check_literal(url)
                except Refused as e:
                    return Response(url, error=f"refused: {e}")
            host = host_of(url)
            sem = self._sems.setdefault(host, asyncio.Semaphore(self.o.concurrency))
            async with sem:
                await self._slot(host)
                r = await self._once(url, headers, max_bytes or self.o.max_page_bytes)
            if r.error is None and r.status in REDIRECTS:
                target = normalize(r.headers.get("location", ""), url)
                if target is None:
                    return Response(url, error=f"redirect to an unusable address {r.headers.get('location', '')!r}")
                if target in chain:
                    return Response(url, error=f"redirect loop ({' → '.join(chain + [target])})")
                if len(chain) > self.o.max_redirects:
                    return Response(url, error=f"more than {self.o.max_redirects} redirects")
                if scope is not None and not in_scope(target, scope):
                    return Response(url, error=f"redirects out of the source's scope, to {target}")
                chain.append(target)
                url = target
                continue
            if r.error is None and r.status in (429, 503) and retries > 0:
                wait = retry_after(r.headers.get("retry-after"))
                if wait is not None and wait <= MAX_RETRY_AFTER:
                    retries -= 1
                    await asyncio.sleep(wait)
                    continue
            return r

    async def _once(self, url: str, headers: dict | None, max_bytes: int) -> Response:
        self.requests += 1
        try:
            async with self.session.get(url, headers=headers or {}, allow_redirects=False) as resp:
                out = Response(url, resp.status, {k.lower(): v for k, v in resp.headers.items()})
                if resp.status != 200:
                    return out
                size = resp.content_length
                if size is not None and size > max_bytes:
                    out.error = f"over the size limit ({size / 1e6:.1f} MB > {max_bytes / 1e6:.1f} MB)"
                    return out
                chunks, got = [], 0
                async for chunk in resp.content.iter_chunked(1 << 16):
                    got += len(chunk)
                    if got > max_bytes:
                        out.error = f"over the size limit (> {max_bytes / 1e6:.1f} MB)"
                        return out
                    chunks.append(chunk)
                out.body = b"".join(chunks)
                self.bytes += got
                return out
        except asyncio.TimeoutError:
            return Response(url, error=f"timed out after {self.o.timeout:g} s")
        except aiohttp.ClientConnectorCertificateError as e:
            return Response(url, error=f"TLS error: {_short(e.certificate_error)}")
        except aiohttp.ClientSSLError as e:
            return Response(url, error=f"TLS error: {_short(e)}")
        except aiohttp.ClientConnectorDNSError as e:
            reason = str(e.os_error)
            if reason.startswith("refused:"):
                return Response(url, error=reason)
            return Response(url, error=f"DNS failure: cannot resolve {e.host}")
        except aiohttp.ClientConnectorError as e:
            return Response(url, error=f"unreachable: {e.host}:{e.port} ({_short(e.os_error)})")
        except (aiohttp.ClientError, OSError, ValueError) as e:
            return Response(url, error=f"{type(e).__name__}: {_short(e)}")


def _check_literal(url: str) -> None:
    """An IP written in the URL is connected to without a lookup: check it here."""
    from urllib.parse import urlsplit

    host = urlsplit(url).hostname or ""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return
    check_address(host)


def retry_after(value: str | None) -> float | None:
    """Seconds a ``Retry-After`` header asks for (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _short(e) -> str:
    return " ".join(str(e).split())[:160] or type(e).__name__
