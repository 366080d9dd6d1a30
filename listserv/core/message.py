# SPDX-License-Identifier: Apache-2.0
"""Reading raw messages without trusting them: Post, its author, its headers.

Nothing here raises on bad input. A message that is not valid MIME, has
undecodable or 8-bit headers, NUL bytes, no From or a From that is no address
still becomes a Post; what is missing is empty, and the rules decide.
"""

import hashlib
import re
from dataclasses import dataclass
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.policy import compat32
from typing import Any

from listserv.core.addresses import parse_address
from listserv.core.headers import MAX_TEXT, BoundedPolicy, addresses_in, decoded_value
from listserv.errors import InvalidAddress

_END_OF_HEADERS = re.compile(rb"\r?\n\r?\n")
_MESSAGE_ID = re.compile(rb"^message-id:(.*(?:\r?\n[ \t].*)*)", re.IGNORECASE | re.MULTILINE)
POLICY = BoundedPolicy()  # policy.default, parsing no more than it can in linear time


def header_block(raw: bytes) -> bytes:
    """The raw header section of a message (everything before the first empty line)."""
    match = _END_OF_HEADERS.search(raw)
    return raw[: match.start()] if match else raw


def message_id(raw: bytes) -> str:
    """The (first) Message-ID as written, unfolded, or '' when there is none; never raises.

    A search of the header section rather than the email parser: this runs on the event
    loop for every message at DATA, and parsing 7,000 header fields took 100 ms there.
    """
    found = _MESSAGE_ID.search(header_block(raw))
    return " ".join(found[1].decode("utf-8", "replace").split()) if found else ""


# Fields MTAs add in transit: a message relayed again differs in these alone.
_TRACE_FIELDS = frozenset({
    b"received", b"received-spf", b"return-path", b"delivered-to", b"x-original-to",
    b"authentication-results", b"arc-seal", b"arc-message-signature",
    b"arc-authentication-results"})


def derived_message_id(raw: bytes, domain: str) -> str:
    """A Message-ID for a message without one, derived from its content.

    The same message gets the same id each time it arrives (whatever its line
    endings and trace fields), so that duplicate detection knows it again.
    """
    head, _, body = raw.replace(b"\r\n", b"\n").partition(b"\n\n")
    fields = re.split(rb"\n(?![ \t])", head)
    kept = [field for field in fields
            if field.partition(b":")[0].strip().lower() not in _TRACE_FIELDS]
    digest = hashlib.sha256(b"\n".join(kept) + b"\n\n" + body).hexdigest()[:32]
    return f"<{digest}@{domain}>"


def header_text(message: Message, name: str) -> str:
    """A header's decoded value on one line, '' when absent or unreadable."""
    texts = header_texts(message, name)
    return texts[0] if texts else ""


def header_texts(message: Message, name: str) -> list[str]:
    """Every occurrence of a header, decoded, each on one line.

    Read from the values as received in time linear in their length (core.headers),
    never through the email package's header model; at most MAX_TEXT characters each.
    """
    return [_text(value) for value in _values(message, {name.lower()})]


def header_addresses(message: Message, *names: str) -> list[tuple[str, str]]:
    """(display name, address) of every address in the named headers, in order; the
    addresses as written, valid or not, the names decoded."""
    return addresses_in(str(value) for value in _values(message, {n.lower() for n in names}))


def address_keys(message: Message, *names: str) -> list[str]:
    """Match keys of the valid addresses in the named headers (To, Cc…), in order.

    Reads the raw header values: the email package's structured address
    parsing costs about 0.25 ms per address, too slow for a To of thousands.
    """
    found = []
    for _, address in header_addresses(message, *names):
        try:
            found.append(parse_address(address).key)
        except InvalidAddress:
            continue
    return found


def _values(message: Message, names: set[str]) -> list[Any]:
    """The values of the named headers as stored: raw text, or what code set."""
    try:
        return [value for key, value in message.raw_items() if key.lower() in names]
    except Exception:
        return []


def _text(value: Any) -> str:
    if isinstance(value, str) and not hasattr(value, "name"):
        return decoded_value(value)  # as received
    try:  # a header the code set (already parsed), or compat32's email.header.Header
        return " ".join(str(value)[:MAX_TEXT].split())
    except Exception:
        return ""


def _author(message: Message) -> tuple[str, str]:
    """(match key, display name) of the first valid address in From; ('', '') if none.

    Deliberately not the envelope sender: a post without a usable From must
    not pass as a member's (it is held for review instead).
    """
    for display, address in header_addresses(message, "From"):
        try:
            return parse_address(address).key, display
        except InvalidAddress:
            continue
    return "", ""


def _parse(clean: bytes) -> EmailMessage:
    """Parse as well as the email package can: whole, else with the old policy (it has
    bugs on some malformed headers), else the headers alone (MIME nested deeper than
    the parser can recurse is left as one opaque body)."""
    for policy, headers_only in ((POLICY, False), (compat32, False), (POLICY, True),
                                 (compat32, True)):
        try:
            parser = BytesParser(_class=EmailMessage, policy=policy)
            message = parser.parsebytes(clean, headersonly=headers_only)
        except Exception:
            continue
        assert isinstance(message, EmailMessage)
        return message
    return EmailMessage(policy=POLICY)


@dataclass(frozen=True, slots=True)
class Post:
    """A received message with what the rules need to know about it."""

    raw: bytes
    message: EmailMessage
    mail_from: str  # envelope sender; '' for the null sender <>
    recipient: str  # the RCPT TO address it arrived for
    author: str  # match key of the author, '' when no valid address was found
    author_name: str
    message_id: str
    subject: str
    defects: tuple[str, ...]


def parse_post(raw: bytes, mail_from: str = "", recipient: str = "") -> Post:
    """Parse a raw message into a Post; never raises."""
    # NUL bytes are not allowed in mail (RFC 5322) and confuse parsers downstream.
    message = _parse(raw.replace(b"\x00", b""))
    try:
        author, author_name = _author(message)
        defects = tuple(type(defect).__name__ for part in message.walk()
                        for defect in part.defects)
    except Exception:  # the email package has bugs on some malformed headers
        author, author_name, defects = "", "", ("HeaderParseError",)
    return Post(raw=raw, message=message, mail_from=mail_from, recipient=recipient,
                author=author, author_name=author_name, message_id=message_id(raw),
                subject=header_text(message, "Subject"), defects=defects)
