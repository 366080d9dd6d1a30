# SPDX-License-Identifier: Apache-2.0
"""Judging what a browser sends the web side: where a form came from, where a redirect may
lead, and which client a rate limit counts.

Pure: the shell hands in header values and addresses; nothing here reads a request.
"""

from ipaddress import IPv6Address, ip_address, ip_network
from urllib.parse import SplitResult, urlsplit

MAX_PATH = 500  # characters of a redirect target


def _origin(parts: SplitResult) -> str:
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


def same_origin(source: str, *, site: str, host: str) -> bool:
    """Whether a form's Origin (or Referer) is this site: the origin of its base URL, or
    the host the browser asked for (its Host header). "null" and anything else are not."""
    parts = urlsplit(source.strip())
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return False
    if site and _origin(parts) == _origin(urlsplit(site)):
        return True
    return bool(host) and parts.netloc.lower() == host.strip().lower()


def local_path(target: str) -> str | None:
    """A redirect target on this site only: a path, never a URL of another site (no open
    redirect: no scheme, no host, no "//" or backslash a browser reads as one)."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target \
            or len(target) > MAX_PATH or any(ord(c) < 0x21 or ord(c) == 0x7F for c in target):
        return None
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else None


def client_network(host: str) -> str:
    """What a per-client rate limit counts: an IPv4 address, or the /64 of an IPv6 one (a
    household or a server commonly has a whole /64 to itself)."""
    try:
        address = ip_address(host)
    except ValueError:
        return host
    if isinstance(address, IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ip_network(f"{address}/64", strict=False))
    return str(address)
