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
holds: split once around the List-Unsubscribe field, each copy is those
bytes with the member's lines put in. Only a personal footer means parsing
and rendering a copy.
"""

from dataclasses import dataclass
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


@dataclass(frozen=True, slots=True)
class Copy:
    """One member's copy: its envelope sender and its bytes (not yet signed)."""

    mail_from: str
    raw: bytes


@dataclass(frozen=True, slots=True)
class _Split:
    """A message around its List-Unsubscribe field (the field's value unfolded)."""

    before: bytes
    value: bytes
    after: bytes


class Copies:
    """The members' copies of one message, made from its bytes."""

    def __init__(self, raw: bytes, bounce_address: str, personal: Personalization, *,
                 key: bytes, list_id: int | None) -> None:
        self.raw = raw
        self._bounce_address = bounce_address
        self._key = key
        self._list_id = list_id
        self._full = personal.mode is Personalize.FULL
        self._footer = personal.footer
        self._web_url = personal.web_url if list_id is not None else ""
        self._split = _split(raw) if self._web_url and not self._full else None

    @property
    def varies(self) -> bool:
        """Whether the copies differ in their bytes, not only in their envelope senders."""
        return self._full or bool(self._web_url)

    def copy(self, member: str) -> Copy:
        """The copy for member (as the roster spells the address)."""
        raw = personal_copy(self.raw, self._footer, member) if self._full else self.raw
        try:
            mailbox = parse_address(member)
        except InvalidAddress:
            mailbox = None
        if mailbox is None or self._list_id is None:  # nobody to sign or link for
            return Copy(self._bounce_address, raw)
        member_key = mailbox.key
        mail_from = verp.address(self._bounce_address, mailbox,
                                 verp.tag(self._key, self._list_id, member_key))
        split = _split(raw) if self._full and self._web_url else self._split
        if split is not None:
            token = unsubscribe_token(self._key, self._list_id, member_key)
            raw = _with_one_click(split, absolute(self._web_url, unsubscribe_path(token)))
        return Copy(mail_from or self._bounce_address, raw)


def personal_copy(raw: bytes, footer: str, member: str) -> bytes:
    """The decorated post (without footer) as it goes to one member; raw if it cannot be read."""
    message = parse_post(raw).message
    try:
        unsubscribe = str(message.get("List-Unsubscribe", ""))
        if unsubscribe.startswith("<mailto:") and "?" not in unsubscribe:
            del message["List-Unsubscribe"]
            message["List-Unsubscribe"] = (
                f"{unsubscribe[:-1]}?subject={quote(f'unsubscribe {member}', safe='@')}>")
        if footer:
            add_footer(message, footer.replace(MEMBER_FIELD, member))
        return render(message)
    except Exception:  # the email package raises on MIME nobody foresaw: send it unchanged
        return raw


def _split(raw: bytes) -> _Split:
    """raw around its first List-Unsubscribe field; without one, everything comes after."""
    end = raw.find(b"\r\n\r\n")
    header = raw[:end + 2].lower() if end >= 0 else raw.lower()
    start = 0 if header.startswith(_FIELD) else header.find(b"\r\n" + _FIELD) + 2
    if start == 1:
        return _Split(b"", b"", raw)
    stop = start
    while True:  # the field ends at a line break not followed by white space (a fold)
        stop = header.find(b"\r\n", stop) + 2
        if stop == 1:
            stop = len(header)
        if header[stop:stop + 1] not in (b" ", b"\t") or stop >= len(header):
            break
    value = b" ".join(raw[start + len(_FIELD):stop].split())
    return _Split(raw[:start], value, raw[stop:])


def _with_one_click(split: _Split, url: str) -> bytes:
    """The message with its member's link first in List-Unsubscribe; List-Unsubscribe-Post
    only for an HTTPS link (RFC 8058 section 3.1)."""
    link = b"<" + url.encode() + b">"
    value = link + b",\r\n " + split.value if split.value else link
    post = ONE_CLICK if url.startswith("https://") else b""
    return b"".join((split.before, b"List-Unsubscribe: ", value, b"\r\n", post, split.after))
