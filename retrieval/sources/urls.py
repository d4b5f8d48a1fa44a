"""URLs of a crawl: one spelling per page, the source's scope, and the addresses a guarded fetch refuses."""

from __future__ import annotations

import ipaddress
import posixpath
import re
import socket
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

# parameters that name the campaign or click, not the page
_TRACKING = re.compile(r"^(?:utm_\w+|gclid|fbclid|msclkid|mc_cid|mc_eid|_ga|yclid|ref_src)$", re.IGNORECASE)
_INDEX = re.compile(r"(?:^|/)(?:index|default)\.(?:html?|php|aspx?)$", re.IGNORECASE)


class Refused(Exception):
    """A guarded fetch would reach an address it must not (loopback, private, …); the one-line reason."""


def normalize(url: str, base: str | None = None) -> str | None:
    """One spelling per page: ``base`` joined, scheme and host lower-cased, default port, fragment and
    tracking parameters dropped, ``index.html`` = its folder, ``.``/``..`` resolved, the rest of the query
    sorted; None for what is not an http(s) page (``mailto:``, ``javascript:``)."""
    from urllib.parse import urljoin

    try:
        full = urljoin(base, url.strip()) if base else url.strip()
        u = urlsplit(full)
        host = u.hostname
        port = u.port
    except ValueError:
        return None
    if u.scheme.lower() not in ("http", "https") or not host:
        return None
    scheme = u.scheme.lower()
    netloc = host.lower() if ":" not in host else f"[{host.lower()}]"
    if port and port != {"http": 80, "https": 443}[scheme]:
        netloc += f":{port}"
    path = u.path or "/"
    trailing = path.endswith("/")
    path = posixpath.normpath(unquote(path)) if path not in ("", "/") else "/"
    path = "/" if path in (".", "//") else path
    if trailing and not path.endswith("/"):
        path += "/"
    path = _INDEX.sub(lambda m: "/" if m.group().startswith("/") else "", path) or "/"
    path = quote(path, safe="/%:@!$&'()*+,;=-._~")
    query = urlencode(sorted((k, v) for k, v in parse_qsl(u.query, keep_blank_values=True) if not _TRACKING.match(k)))
    return urlunsplit((scheme, netloc, path, query, ""))


def host_of(url: str) -> str:
    """``host[:port]`` of a URL (the unit of politeness: delay and concurrency are per host)."""
    return urlsplit(url).netloc.lower()


def in_scope(url: str, scope: str) -> bool:
    """Whether ``url`` is on ``scope``'s host (http or https) under its folder."""
    a, b = urlsplit(url), urlsplit(scope)
    if a.netloc.lower() != b.netloc.lower():
        return False
    folder = b.path if b.path.endswith("/") else b.path.rsplit("/", 1)[0] + "/"
    return (a.path if a.path.endswith("/") else a.path + "/").startswith(folder) or a.path == b.path


def check_address(ip: str) -> None:
    """Raise :class:`Refused` when ``ip`` is not a public unicast address."""
    addr = ipaddress.ip_address(ip.split("%", 1)[0])
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    if (addr.is_loopback or addr.is_private or addr.is_link_local or addr.is_multicast or addr.is_reserved
            or addr.is_unspecified or not addr.is_global):
        raise Refused(f"{ip} is a loopback, private, link-local, multicast or reserved address")


def check_public(url: str) -> None:
    """For URLs given through Discord: http(s) only, and every address the host resolves to public.

    Raises:
        Refused: with the reason in one line.
    """
    u = urlsplit(url)
    if u.scheme.lower() not in ("http", "https") or not u.hostname:
        raise Refused(f"only http(s) addresses can be added, not {url!r}")
    try:
        infos = socket.getaddrinfo(u.hostname, u.port or 443, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as e:
        raise Refused(f"cannot resolve {u.hostname}: {e}") from None
    for info in infos:
        check_address(info[4][0])
