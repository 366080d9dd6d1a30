# SPDX-License-Identifier: Apache-2.0
"""Signed VERP: the recipient's address inside the envelope sender, with a tag that proves
listserv wrote it, so that a bounce names its member and nobody can name one for us.

``alice@example.org`` on ``ops@example.com`` becomes
``ops-bounces+alice=example.org+TAG@example.com``: the qmail/Postfix
convention, then a tag, a short HMAC (core.tokens.short_tag, lower-case
base32) of the list's id and the member's match key under the site's key. A
probe (handling.bounces) carries a tag of its own, of the probe's number too.
The encoding is reversible for every valid address: the last '=' separates
local part and domain, a domain holds no '=' nor '+', so a '+' after the
last '=' starts the tag; what could not stand in an unquoted local part
(spaces and quotes of a quoted local part, '%', non-ASCII, dots in the wrong
places) is written as %XX octets of its UTF-8, and the domain goes in A-labels:
the VERP address of ``jürgen@müller.example`` is all ASCII, so a bounce reaches it
through MTAs without SMTPUTF8 (RFC 6531), and it decodes back to the same member. An
address without a tag (listserv wrote them so before they were signed) decodes with
the tag ''.
"""

import re
from dataclasses import dataclass

from listserv.core.addresses import Mailbox, ascii_domain, parse_address, sub_address
from listserv.core.tokens import matches, short_tag
from listserv.errors import InvalidAddress

VERP = "verp"  # the tags' purposes (core.tokens)
PROBE = "verp-probe"
MAX_ADDRESS = 254  # octets of an envelope address (RFC 5321 section 4.5.3.1.3, less <>)

_PLAIN = re.compile(r"[A-Za-z0-9!#$&'*+/=?^_`{|}~.-]")  # atext and '.', less '%'
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_DOT_ATOM = re.compile(r"[^\s\"(),.:;<>@\[\\\]]+(?:\.[^\s\"(),.:;<>@\[\\\]]+)*")


@dataclass(frozen=True, slots=True)
class Verp:
    """What a VERP address says: the member it names, and its tag ('' for none)."""

    address: str
    tag: str


def tag(key: bytes, list_id: int, member_key: str, probe: int | None = None) -> str:
    """The tag of a member's VERP address on a list, or of one probe sent to the member."""
    if probe is None:
        return short_tag(key, VERP, [str(list_id), member_key])
    return short_tag(key, PROBE, [str(list_id), member_key, str(probe)])


def address(bounce_address: str, member: Mailbox, signature: str) -> str | None:
    """ops-bounces@… with the member and the tag added after '+'; None when too long."""
    local = _escape(_unquoted(member.local_part))
    domain = ascii_domain(member.domain)
    made = sub_address(bounce_address, f"+{local}={domain}+{signature}")
    return made if len(made.encode()) <= MAX_ADDRESS else None


def sender(bounce_address: str, recipient: str, key: bytes, list_id: int,
           probe: int | None = None) -> str | None:
    """The signed VERP address of recipient on the list; None when recipient is no valid
    address or the result would be too long."""
    try:
        mailbox = parse_address(recipient)
    except InvalidAddress:
        return None
    return address(bounce_address, mailbox, tag(key, list_id, mailbox.key, probe))


def decode(extension: str) -> Verp | None:
    """The member and tag from the part after the first '+'; None when it is no VERP address."""
    local, equals, rest = extension.rpartition("=")
    domain, _, signature = rest.partition("+")
    if not equals or not local or not domain:
        return None
    try:
        local, domain = _unescape(local), _unescape(domain)
    except (UnicodeDecodeError, ValueError):
        return None
    if not _DOT_ATOM.fullmatch(local):
        local = '"' + re.sub(r'(["\\])', r"\\\1", local) + '"'
    try:
        return Verp(str(parse_address(f"{local}@{domain}")), signature)
    except InvalidAddress:
        return None


def verifies(found: Verp, key: bytes, list_id: int, probe: int | None = None) -> bool:
    """Whether listserv made this VERP address for the list (for that probe, where given)."""
    member_key = parse_address(found.address).key  # decode() gave a valid address
    return bool(found.tag) and matches(found.tag, tag(key, list_id, member_key, probe))


def _escape(text: str) -> str:
    escaped = "".join(char if _PLAIN.fullmatch(char) else
                      "".join(f"%{octet:02X}" for octet in char.encode())
                      for char in text)
    if escaped.startswith(".") or escaped.endswith(".") or ".." in escaped:
        escaped = escaped.replace(".", "%2E")  # keep the VERP local part a dot-atom
    return escaped


def _unescape(text: str) -> str:
    octets = _ESCAPE.sub(lambda match: f"\x00{match.group(1)}", text)
    if "\x00" not in octets:
        return text
    data = bytearray()
    for piece in re.split(r"(\x00[0-9A-Fa-f]{2})", octets):
        data += bytes.fromhex(piece[1:]) if piece.startswith("\x00") else piece.encode()
    return data.decode("utf-8", errors="strict")


def _unquoted(local_part: str) -> str:
    if local_part.startswith('"') and local_part.endswith('"') and len(local_part) > 1:
        return re.sub(r"\\(.)", r"\1", local_part[1:-1])
    return local_part
