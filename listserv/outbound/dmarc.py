# SPDX-License-Identifier: Apache-2.0
"""DMARC policy lookup in DNS: _dmarc at the author's domain, then at its organisational domain.

RFC 7489 section 6.6.3. Answers come through the process's TXT cache
(listserv.outbound.resolver). A lookup that fails (timeout, SERVFAIL, no resolver
configuration) gives DmarcPolicy.UNKNOWN and the list's dmarc_on_dns_failure
setting decides; nothing here raises. This module only looks up: core.dmarc
parses, decides and rewrites.
"""

import functools
import logging
from dataclasses import dataclass
from email.message import EmailMessage, Message

from publicsuffixlist import PublicSuffixList

from listserv.core.dmarc import (
    DmarcPolicy,
    Record,
    applicable,
    author_domains,
    decide,
    mitigate,
    parse_records,
)
from listserv.core.dmarc import strictest as strictest_policy
from listserv.core.message import Post
from listserv.core.policy import DmarcMitigation, ListPolicy
from listserv.offload import off_loop
from listserv.outbound.resolver import FAILED, Failed, Nameserver, TxtCache, txt_cache

log = logging.getLogger(__name__)

Found = Record | None | Failed


@dataclass
class DmarcLookup:
    """DMARC policies through a TXT cache."""

    dns: TxtCache

    async def policy_of(self, message: Message) -> DmarcPolicy:
        """The strictest policy among the domains of the message's authors."""
        return strictest_policy([await self.policy(domain) for domain in author_domains(message)])

    async def policy(self, domain: str) -> DmarcPolicy:
        """The policy that applies to mail from domain (RFC 7489 section 6.6.3)."""
        found = await self._record(domain)
        if isinstance(found, Failed):
            return DmarcPolicy.UNKNOWN
        if found is not None:
            return applicable(found, at_organisational_domain=False)
        organisational = organisational_domain(domain)
        if organisational == domain:
            return DmarcPolicy.ABSENT
        found = await self._record(organisational)
        if isinstance(found, Failed):
            return DmarcPolicy.UNKNOWN
        return applicable(found, at_organisational_domain=True)

    async def _record(self, domain: str) -> Found:
        texts = await self.dns.txt(f"_dmarc.{domain}")
        if isinstance(texts, Failed):
            return FAILED
        return None if texts is None else parse_records(texts)


@functools.cache
def _suffix_list() -> PublicSuffixList:
    return PublicSuffixList()  # the copy the package ships; loaded once, when first needed


def organisational_domain(domain: str) -> str:
    """The registered domain by the public suffix list (RFC 7489 section 3.2)."""
    try:
        return str(_suffix_list().privatesuffix(domain) or domain)
    except Exception:  # a name the list's code cannot split
        return domain


async def mitigated(message: EmailMessage, post: Post, policy: ListPolicy,
                    nameserver: Nameserver | None) -> EmailMessage:
    """The decorated post as it goes to the members: munged or wrapped where DMARC asks."""
    if policy.dmarc_mitigation is DmarcMitigation.NONE or not author_domains(post.message):
        return message
    found = await DmarcLookup(txt_cache(nameserver)).policy_of(post.message)
    mitigation = decide(post.message, found, policy)
    if mitigation is not DmarcMitigation.NONE:
        log.info("%s: DMARC policy %s, sent with %s", post.message_id or "(no Message-ID)",
                 found, mitigation)
    return await off_loop(len(post.raw), mitigate, message, post, policy, mitigation)
