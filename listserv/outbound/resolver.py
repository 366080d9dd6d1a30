# SPDX-License-Identifier: Apache-2.0
"""TXT lookups in DNS with a cache by TTL: DMARC policies, DKIM and ARC keys.

One cache per process and nameserver, like a resolver's. A lookup that
fails (timeout, SERVFAIL, no resolver configuration) gives FAILED and is
tried again after a minute, not for every post; nothing here raises.
"""

import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import dns.asyncresolver
import dns.exception
import dns.name
import dns.rdatatype
import dns.resolver

log = logging.getLogger(__name__)

Nameserver = tuple[str, int]
TIMEOUT = 2.0  # seconds for one lookup, retries included
NEGATIVE_TTL = 300  # no record: RFC 2308 would take the SOA minimum; five minutes is close
FAILURE_TTL = 60
MAX_TTL = 86_400
MAX_ENTRIES = 10_000


class Failed:
    """The lookup got no answer."""


FAILED = Failed()
Txt = list[str] | None | Failed  # the strings of each record; None: no such record


@dataclass
class TxtCache:
    """A resolver with its TTL cache of TXT answers."""

    nameserver: Nameserver | None = None  # None: the system's resolver configuration
    timeout: float = TIMEOUT
    clock: Callable[[], float] = time.monotonic
    queries: int = 0  # sent to DNS (not answered from the cache)
    _cache: dict[str, tuple[float, Txt]] = field(default_factory=dict)
    _resolver: dns.asyncresolver.Resolver | None = None

    async def txt(self, name: str) -> Txt:
        """The TXT records at name, each record's strings joined (RFC 7208 section 3.3)."""
        now = self.clock()
        cached = self._cache.get(name)
        if cached is not None and cached[0] > now:
            return cached[1]
        found, ttl = await self._query(name)
        if len(self._cache) >= MAX_ENTRIES:
            self._cache.clear()
        self._cache[name] = (now + ttl, found)
        return found

    async def _query(self, name: str) -> tuple[Txt, float]:
        self.queries += 1
        try:
            answer = await self._resolve().resolve(dns.name.from_text(name), dns.rdatatype.TXT,
                                                   raise_on_no_answer=False)
        except (dns.resolver.NXDOMAIN, dns.name.NameTooLong, dns.name.EmptyLabel,
                dns.name.LabelTooLong):
            return None, NEGATIVE_TTL
        except Exception as exc:  # timeout, SERVFAIL, no resolv.conf: the caller decides
            log.warning("DNS lookup of %s failed: %s", name, exc or type(exc).__name__)
            return FAILED, FAILURE_TTL
        if answer.rrset is None:
            return None, NEGATIVE_TTL
        texts = [b"".join(rdata.strings).decode("utf-8", "replace") for rdata in answer.rrset]
        return texts, min(max(answer.rrset.ttl, 1), MAX_TTL)

    def _resolve(self) -> dns.asyncresolver.Resolver:
        if self._resolver is None:
            if self.nameserver is None:
                resolver = dns.asyncresolver.Resolver()
            else:
                resolver = dns.asyncresolver.Resolver(configure=False)
                resolver.nameservers = [self.nameserver[0]]
                resolver.port = self.nameserver[1]
            resolver.lifetime = self.timeout
            resolver.timeout = self.timeout
            self._resolver = resolver
        return self._resolver


# The cache lives as long as the process: one per nameserver setting, shared by DMARC
# and DKIM lookups, without a process-wide object to hang it on.
@functools.cache
def txt_cache(nameserver: Nameserver | None) -> TxtCache:
    """The process's cache for a nameserver setting (None: the system's resolver)."""
    return TxtCache(nameserver)
