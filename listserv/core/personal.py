# SPDX-License-Identifier: Apache-2.0
"""The per-member parts of list mail, added at delivery: the signed VERP sender, the one-click
unsubscribe link, the personal footer.

A message goes out in one of three ways (personalization()): in bulk, one
copy for up to a hundred members; with VERP, a transaction per member whose
envelope sender names and signs them (core.verp), so that a bounce proves
which member it is about; or fully personal, with the member's own footer
and List-Unsubscribe. A list with a web side (a base URL) and
one_click_unsubscribe sends every post and digest with VERP at least, each
copy with its member's one-click link (RFC 8058): a List-Unsubscribe whose
HTTPS URL carries a token naming list and member, and List-Unsubscribe-Post.

Copies makes the members' copies of one message from the bytes the job
holds: split once around the List-Unsubscribe field (and, with a personal
footer, around the places of the member's address), each copy is those
bytes with the member's lines put in. The List-Unsubscribe field is written
as bytes, on one line per link: the email package would fold a mailto: link
longer than a line into RFC 2047 encoded words, which no mail client reads as
a link. Only a footer that the email package encodes (quoted-printable,
base64) means parsing and rendering each copy.
"""

import hashlib
import re
from dataclasses import dataclass
from typing import NamedTuple
from urllib.parse import quote

from listserv.core import verp
from listserv.core.addresses import parse_address
from listserv.core.decoration import render
from listserv.core.footer import add_footer, footer_text
from listserv.core.message import parse_post
from listserv.core.policy import ListPolicy, Personalize
from listserv.core.tokens import unsubscribe_token
from listserv.core.urls import absolute, unsubscribe_path
from listserv.errors import InvalidAddress

MEMBER_FIELD = "{member_address}"
ONE_CLICK = b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"  # RFC 8058 section 3.1
_FIELD = b"list-unsubscribe:"
_STAND_IN_DOMAIN = b"@stand-in.invalid"
_PLAIN_ADDRESS = re.compile(rb"[!-~]+")  # printable ASCII, no space


@dataclass(frozen=True, slots=True)
class Personalization:
    """How a message goes out to a list's members."""

    mode: Personalize
    footer: str = ""  # with FULL: the footer, {member_address} left for delivery
    web_url: str = ""  # the site's base URL: each copy carries its member's one-click link


BULK = Personalization(Personalize.NONE)


def one_click_base(policy: ListPolicy) -> str:
    """The base URL of the list's one-click links; '' when its copies carry none."""
    return policy.web_url if policy.web_url and policy.one_click_unsubscribe else ""


def personalization(policy: ListPolicy, chance: float) -> Personalization:
    """How a post goes out. chance (0 <= chance < 1, the caller's randomness) picks the
    VERP posts of a list that asks for about one post in verp_probe_every."""
    web_url = one_click_base(policy)
    if policy.personalize is Personalize.FULL:
        return Personalization(Personalize.FULL, footer_text(policy), web_url)
    sampled = policy.verp_probe_every > 0 and chance * policy.verp_probe_every < 1
    if web_url or sampled or policy.personalize is Personalize.VERP:
        return Personalization(Personalize.VERP, "", web_url)
    return BULK


def digest_personalization(policy: ListPolicy) -> Personalization:
    """How a digest goes out: as posts do, but never with a personal footer (that would
    mean writing the whole digest again for each member)."""
    web_url = one_click_base(policy)
    if web_url or policy.personalize is not Personalize.NONE:
        return Personalization(Personalize.VERP, "", web_url)
    return BULK


class Copy(NamedTuple):
    """One member's copy: its envelope sender and its bytes (not yet signed)."""

    mail_from: str
    raw: bytes


@dataclass(frozen=True, slots=True)
class _Template:
    """A message around its List-Unsubscribe field (the field's value unfolded), and the
    rest cut where its member's address goes (in a personal footer)."""

    before: bytes
    value: bytes
    after: tuple[bytes, ...]


class Copies:
    """The members' copies of one message, made from its bytes.

    The message is read once: its footer added once (or, when the footer names
    its member, once with a stand-in whose places each copy fills), and split
    around List-Unsubscribe. A copy is then those pieces joined with its
    member's lines, without parsing or rendering; only a footer the stand-in
    cannot show (one the email package encodes) means rendering each copy.
    """

    def __init__(self, raw: bytes, bounce_address: str, personal: Personalization, *,
                 key: bytes, list_id: int | None) -> None:
        self.raw = raw
        self._bounce_address = bounce_address
        self._key = key
        self._list_id = list_id
        self._full = personal.mode is Personalize.FULL
        self._footer = personal.footer if self._full else ""
        self._web_url = personal.web_url if list_id is not None else ""
        self._template = _template(raw, self._footer) if self.varies else None

    @property
    def varies(self) -> bool:
        """Whether the copies differ in their bytes, not only in their envelope senders."""
        return self._full or bool(self._web_url)

    def copy(self, member: str) -> Copy:
        """The copy for member (as the roster spells the address)."""
        try:
            mailbox = parse_address(member)
        except InvalidAddress:
            mailbox = None
        if mailbox is None or self._list_id is None:  # nobody to sign or link for
            return Copy(self._bounce_address, self._bytes(member, "") if self._full else self.raw)
        member_key = mailbox.key
        mail_from = verp.address(self._bounce_address, mailbox,
                                 verp.tag(self._key, self._list_id, member_key))
        link = ""
        if self._web_url:
            token = unsubscribe_token(self._key, self._list_id, member_key)
            link = absolute(self._web_url, unsubscribe_path(token))
        raw = self._bytes(member, link) if self.varies else self.raw
        return Copy(mail_from or self._bounce_address, raw)

    def _bytes(self, member: str, link: str) -> bytes:
        """The member's copy: its footer, its mailto: subject (FULL), its one-click link."""
        template = self._template
        address = member.encode("utf-8", "surrogateescape")
        if template is None or (len(template.after) > 1 and not _fits(address)):
            template = _split(with_footer(self.raw, self._footer.replace(MEMBER_FIELD, member)),
                              b"")
        value = _member_mailto(template.value, member) if self._full else template.value
        return _with_field(template.before, value, link, address.join(template.after))


def with_footer(raw: bytes, footer: str) -> bytes:
    """raw with the footer added (core.footer); raw if there is none or it cannot be read."""
    if not footer:
        return raw
    message = parse_post(raw).message
    try:
        add_footer(message, footer)
        return render(message)
    except Exception:  # the email package raises on MIME nobody foresaw: send it unchanged
        return raw


def _template(raw: bytes, footer: str) -> _Template | None:
    """raw with its footer, around List-Unsubscribe and the places of the member's address;
    None when each copy must be rendered.

    The stand-in is as long as an address can be and has an '=', which
    quoted-printable would encode: found as written exactly where the footer
    names its member, it shows that the footer went into the body as plain text
    whose lines a member's address cannot make too long, where any address that
    _fits stands as written too.
    """
    if MEMBER_FIELD not in footer:
        return _split(with_footer(raw, footer), b"")
    stand_in = _stand_in(raw)
    made = with_footer(raw, footer.replace(MEMBER_FIELD, stand_in.decode()))
    template = _split(made, stand_in)
    body_at = made.find(b"\r\n\r\n")
    if (len(template.after) - 1 != footer.count(MEMBER_FIELD)
            or not 0 <= body_at < len(template.before) + len(template.after[0])):
        return None
    return template


def _stand_in(raw: bytes) -> bytes:
    """An address no post holds by chance, of the longest length (RFC 5321 4.5.3.1.3)."""
    local = b"member=" + hashlib.sha256(raw).hexdigest()[:16].encode()
    return local.ljust(verp.MAX_ADDRESS - len(_STAND_IN_DOMAIN), b"x") + _STAND_IN_DOMAIN


def _fits(address: bytes) -> bool:
    """Whether the address stands where the stand-in stood as the email package would write
    it: ASCII, no longer, and nothing format=flowed stuffs or strips (RFC 3676 4.2, 4.4)."""
    return len(address) <= verp.MAX_ADDRESS and _PLAIN_ADDRESS.fullmatch(address) is not None \
        and not address.startswith(b">")


def _member_mailto(value: bytes, member: str) -> bytes:
    """A single mailto: link with the member named in its subject, as the list's
    unsubscribe address expects (anything else is left as it is)."""
    if not value.startswith(b"<mailto:") or b"?" in value or value.count(b"<") != 1 \
            or not value.endswith(b">"):
        return value
    subject = quote(f"unsubscribe {member}", safe="@")
    return value[:-1] + b"?subject=" + subject.encode("ascii") + b">"


def _split(raw: bytes, stand_in: bytes) -> _Template:
    """raw around its first List-Unsubscribe field (without one, everything comes after),
    what comes after cut at each stand_in."""
    end = raw.find(b"\r\n\r\n")
    header = raw[:end + 2].lower() if end >= 0 else raw.lower()
    start = 0 if header.startswith(_FIELD) else header.find(b"\r\n" + _FIELD) + 2
    if start == 1:
        return _Template(b"", b"", _cut(raw, stand_in))
    stop = start
    while True:  # the field ends at a line break not followed by white space (a fold)
        stop = header.find(b"\r\n", stop) + 2
        if stop == 1:
            stop = len(header)
        if header[stop:stop + 1] not in (b" ", b"\t") or stop >= len(header):
            break
    value = b" ".join(raw[start + len(_FIELD):stop].split())
    return _Template(raw[:start], value, _cut(raw[stop:], stand_in))


def _cut(rest: bytes, stand_in: bytes) -> tuple[bytes, ...]:
    return tuple(rest.split(stand_in)) if stand_in else (rest,)


def _with_field(before: bytes, value: bytes, link: str, after: bytes) -> bytes:
    """The message with its List-Unsubscribe: the member's link first where there is one,
    with List-Unsubscribe-Post only for an HTTPS link (RFC 8058 section 3.1)."""
    if link:
        url = b"<" + link.encode() + b">"
        value = url + b",\r\n " + value if value else url
    if not value:
        return before + after
    post = ONE_CLICK if link.startswith("https://") else b""
    return b"".join((before, b"List-Unsubscribe: ", value, b"\r\n", post, after))
