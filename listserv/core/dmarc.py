# SPDX-License-Identifier: Apache-2.0
"""DMARC mitigation: reading _dmarc records, deciding, and rewriting the post (RFC 7489).

A list changes the posts it forwards and sends them from its own servers, so
a post from a domain that publishes p=quarantine or p=reject fails DMARC at
the members' providers. The shell looks the records up (listserv.outbound.dmarc);
here they are parsed, the list's settings decide, and the decorated message
is given a From of the list's (munge_from) or is wrapped whole in a message
from the list (wrap). Nothing here raises on a message parse_post produced.
"""

import copy
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage, Message
from enum import StrEnum

from listserv.core.addresses import Mailbox, parse_address
from listserv.core.decoration import SIGNATURES, render, set_header
from listserv.core.footer import add_footer, footer_text
from listserv.core.message import POLICY, Post, header_addresses, header_texts, parse_post
from listserv.core.policy import (
    AuthorIn,
    DmarcMitigation,
    DnsFailure,
    ListPolicy,
    Personalize,
    ReplyTo,
)
from listserv.errors import InvalidAddress


class DmarcPolicy(StrEnum):
    """What the author's domain asks receivers to do with mail that fails DMARC."""

    ABSENT = "absent"  # no usable record
    NONE = "none"
    QUARANTINE = "quarantine"
    REJECT = "reject"
    UNKNOWN = "unknown"  # the lookup failed (timeout, SERVFAIL)


_REQUESTS = {"none": DmarcPolicy.NONE, "quarantine": DmarcPolicy.QUARANTINE,
             "reject": DmarcPolicy.REJECT}
_STRICTNESS = (DmarcPolicy.ABSENT, DmarcPolicy.NONE, DmarcPolicy.UNKNOWN,
               DmarcPolicy.QUARANTINE, DmarcPolicy.REJECT)
# The author's display name as the list writes it into From, Reply-To and Cc: a name
# of 100 KB would cost seconds to encode, and no mail program shows that much.
MAX_NAME = 200
# The headers of the decorated post that a wrapping message carries too.
_WRAPPER_HEADERS = frozenset(name.lower() for name in (
    "Subject", "Date", "Message-ID", "To", "Cc", "In-Reply-To", "References", "Reply-To",
    "List-Id", "List-Post", "List-Help", "List-Subscribe", "List-Unsubscribe",
    "List-Unsubscribe-Post", "List-Owner", "List-Archive", "Archived-At", "Precedence",
    "X-BeenThere", "Sender"))


@dataclass(frozen=True, slots=True)
class Record:
    """A parsed _dmarc record: p, and sp for subdomains (None when not given)."""

    p: DmarcPolicy
    sp: DmarcPolicy | None = None


def parse_records(texts: Iterable[str]) -> Record | None:
    """The one DMARC record among a name's TXT strings; None when there is none or several.

    RFC 7489 section 6.6.3: records not starting with v=DMARC1 are discarded,
    and more than one left means no policy. Unknown tags are ignored; a
    missing or invalid p= counts as none when rua= is given, else as no record.
    """
    records = [tags for text in texts if (tags := _tags(text)) is not None]
    if len(records) != 1:
        return None
    tags = records[0]
    p = _REQUESTS.get(tags.get("p", "").lower())
    if p is None:
        return Record(DmarcPolicy.NONE) if "rua" in tags else None
    return Record(p, _REQUESTS.get(tags.get("sp", "").lower()))


def _tags(text: str) -> dict[str, str] | None:
    """The tags of a record that starts with v=DMARC1, else None."""
    pairs = [part.partition("=") for part in text.split(";")]
    tags = [(name.strip().lower(), value.strip()) for name, equals, value in pairs if equals]
    if not tags or tags[0][0] != "v" or tags[0][1].upper() != "DMARC1":
        return None
    return dict(reversed(tags))  # the first occurrence of a tag wins


def applicable(record: Record | None, *, at_organisational_domain: bool) -> DmarcPolicy:
    """The policy a record sets for the author's domain (sp= applies to subdomains)."""
    if record is None:
        return DmarcPolicy.ABSENT
    if at_organisational_domain and record.sp is not None:
        return record.sp
    return record.p


def strictest(policies: Iterable[DmarcPolicy]) -> DmarcPolicy:
    """The policy that asks the most of all the authors' domains (ABSENT for none)."""
    return max(policies, key=_STRICTNESS.index, default=DmarcPolicy.ABSENT)


def authors(message: Message) -> list[Mailbox]:
    """The valid addresses in From (RFC 5322 allows several; RFC 7489 checks each domain)."""
    found = []
    for _, address in header_addresses(message, "From"):
        try:
            found.append(parse_address(address))
        except InvalidAddress:
            continue
    return found


def author_domains(message: Message) -> list[str]:
    """The IDNA-encoded domains of the authors, each once, in order."""
    return list(dict.fromkeys(mailbox.key.rpartition("@")[2] for mailbox in authors(message)))


def decide(message: Message, found: DmarcPolicy, policy: ListPolicy) -> DmarcMitigation:
    """How the list mitigates this post, given the strictest policy of its authors' domains."""
    keys = [mailbox.key for mailbox in authors(message)]
    if policy.dmarc_mitigation is DmarcMitigation.NONE or not keys:
        return DmarcMitigation.NONE
    wanted = (found in (DmarcPolicy.QUARANTINE, DmarcPolicy.REJECT)
              or (found is DmarcPolicy.NONE and policy.dmarc_mitigate_none)
              or (found is DmarcPolicy.UNKNOWN
                  and policy.dmarc_on_dns_failure is DnsFailure.MITIGATE)
              or any(_always(key, policy.dmarc_always) for key in keys))
    return policy.dmarc_mitigation if wanted else DmarcMitigation.NONE


def _always(key: str, entries: Sequence[str]) -> bool:
    """Whether an author is listed in dmarc_always: by address, or by domain or a parent of it."""
    domain = key.rpartition("@")[2]
    return any(key == entry or domain == entry or domain.endswith("." + entry)
               for entry in entries)


def mitigate(message: EmailMessage, post: Post, policy: ListPolicy,
             mitigation: DmarcMitigation) -> EmailMessage:
    """The decorated message as it goes out under the mitigation (the same one for NONE)."""
    if mitigation is DmarcMitigation.MUNGE_FROM:
        return munge_from(message, policy)
    if mitigation is DmarcMitigation.WRAP:
        return wrap(message, post, policy)
    return message


def munge_from(message: EmailMessage, policy: ListPolicy) -> EmailMessage:
    """A copy from the list's address; the author in X-Original-From and Reply-To and/or Cc."""
    munged = _copy(message)
    try:
        _name_the_list(munged, message, policy)
    except Exception:  # the header model raised on text nobody foresaw: the bare address
        for name in ("From", *SIGNATURES):
            del munged[name]
        munged.set_raw("From", policy.address)
    return munged


def wrap(message: EmailMessage, post: Post, policy: ListPolicy) -> EmailMessage:
    """A message from the list with the post attached whole, its DKIM signatures intact.

    It carries the decorated post's subject, threading and list headers, and
    the list's footer; the attached post is the one received, untouched.
    """
    try:
        outer = EmailMessage(policy=POLICY)
        for name, value in message.raw_items():
            if name.lower() in _WRAPPER_HEADERS:
                outer.set_raw(name, value)
        _name_the_list(outer, message, policy)
        outer.set_content(parse_post(post.raw).message)
        if footer := footer_text(policy) if policy.personalize is not Personalize.FULL else "":
            add_footer(outer, footer)
    except Exception:  # the email package raises on MIME nobody foresaw; munge instead
        return munge_from(message, policy)
    return outer


def _name_the_list(target: EmailMessage, source: Message, policy: ListPolicy) -> None:
    """Give target the list's From, keeping the author where replies can reach them."""
    people = _addresses(source, "From")
    for name in ("From", "X-Original-From", *SIGNATURES):  # they signed a From that is gone
        del target[name]
    for name, value in source.raw_items():
        if name.lower() == "from":
            set_header(target, "X-Original-From", _plain(str(value)), replace=False)
    first = people[0].display_name or people[0].username if people else ""
    list_name = _plain(policy.display_name) or policy.address.partition("@")[0]
    _set_addresses(target, "From", [_address(f"{first} via {list_name}" if first else list_name,
                                             policy.address)])
    in_reply_to = policy.dmarc_author_in in (AuthorIn.REPLY_TO, AuthorIn.BOTH)
    in_cc = policy.dmarc_author_in in (AuthorIn.CC, AuthorIn.BOTH)
    list_replies = policy.reply_to is ReplyTo.LIST or (
        policy.reply_to is ReplyTo.EXPLICIT and bool(policy.reply_to_address.strip()))
    if in_reply_to and list_replies:
        in_cc = True  # Reply-To is the list's to set: reply-all still reaches the author
    elif in_reply_to and not header_texts(source, "Reply-To"):
        _set_addresses(target, "Reply-To", people)  # an author's own Reply-To stays
    if in_cc:
        current = _addresses(target, "Cc")
        known = {str(address.addr_spec).lower() for address in current}
        _set_addresses(target, "Cc", current + [person for person in people
                                                if person.addr_spec.lower() not in known])


def _addresses(message: Message, name: str) -> list[Address]:
    """The valid addresses of a header, with their display names."""
    found = []
    for display, address in header_addresses(message, name):
        try:
            parse_address(address)
            found.append(_address(display, address))
        except (InvalidAddress, ValueError):
            continue
    return found


def _address(display_name: str, addr_spec: str) -> Address:
    """An Address whose display name is plain text (no line breaks or undecodable octets)."""
    try:
        return Address(_plain(display_name)[:MAX_NAME], addr_spec=addr_spec)
    except Exception:  # a name the header model cannot take: the address alone
        return Address(addr_spec=addr_spec)


def _set_addresses(message: EmailMessage, name: str, addresses: list[Address]) -> None:
    del message[name]
    if addresses:
        message[name] = addresses


def _plain(text: str) -> str:
    """Text on one line that encodes: raw octets read as UTF-8, the rest as U+FFFD."""
    text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return " ".join("".join(char if char.isprintable() else " " for char in text).split())


def _copy(message: EmailMessage) -> EmailMessage:
    try:
        return copy.deepcopy(message)
    except Exception:  # RecursionError on deeply nested MIME
        return parse_post(render(message)).message
