# SPDX-License-Identifier: Apache-2.0
"""Reading raw messages without trusting them: Post, its author, its headers.

Nothing here raises on bad input. A message that is not valid MIME, has
undecodable or 8-bit headers, NUL bytes, no From or a From that is no address
still becomes a Post; what is missing is empty, and the rules decide.
"""

import re
from dataclasses import dataclass
from email.message import EmailMessage, Message
from email.parser import BytesHeaderParser, BytesParser
from email.policy import compat32, default
from email.utils import getaddresses

from listserv.core.addresses import parse_address
from listserv.errors import InvalidAddress

_END_OF_HEADERS = re.compile(rb"\r?\n\r?\n")
POLICY = default.clone(raise_on_defect=False)


def header_block(raw: bytes) -> bytes:
    """The raw header section of a message (everything before the first empty line)."""
    match = _END_OF_HEADERS.search(raw)
    return raw[: match.start()] if match else raw


def message_id(raw: bytes) -> str:
    """The Message-ID as written, or '' when there is none; never raises."""
    headers = BytesHeaderParser(policy=compat32).parsebytes(header_block(raw))
    value = headers.get("Message-ID", "")
    return " ".join(str(value).split())


def header_text(message: Message, name: str) -> str:
    """A header's decoded value on one line, '' when absent or unreadable."""
    try:
        value = message.get(name)
    except Exception:  # the email package raises on some malformed headers
        return ""
    if value is None:
        return ""
    try:
        text = str(value)
    except Exception:
        return ""
    return " ".join(text.split())


def header_texts(message: Message, name: str) -> list[str]:
    """Every occurrence of a header, each as header_text reads it."""
    try:
        values = message.get_all(name) or []
    except Exception:
        return []
    texts = []
    for value in values:
        try:
            texts.append(" ".join(str(value).split()))
        except Exception:
            continue
    return texts


def address_keys(message: Message, *names: str) -> list[str]:
    """Match keys of the valid addresses in the named headers (To, Cc…), in order.

    Reads the raw header values: the email package's structured address
    parsing costs about 0.25 ms per address, too slow for a To of thousands.
    """
    wanted = {name.lower() for name in names}
    values = [str(value) for key, value in message.raw_items() if key.lower() in wanted]
    found = []
    for _, address in getaddresses(values):
        try:
            found.append(parse_address(address).key)
        except InvalidAddress:
            continue
    return found


def _author(message: Message) -> tuple[str, str]:
    """(match key, display name) of the first valid address in From; ('', '') if none.

    Deliberately not the envelope sender: a post without a usable From must
    not pass as a member's (it is held for review instead).
    """
    for display, address in getaddresses(header_texts(message, "From")):
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
