# SPDX-License-Identifier: Apache-2.0
"""Reading a mail system's report without trusting it: its parts, its text, its fields.

A bounce or a feedback report returns the message it is about, attached
(message/rfc822, text/rfc822-headers) or pasted below its own text. Nothing
here reads that returned message, but for the author's address to leave out:
a bounce of a bounce is read as the outer report alone. Fields are read
from message/delivery-status (RFC 3464) and message/feedback-report
(RFC 5965) parts, or from the text where a broken MIME structure left them.
Nothing here raises on what the parser makes of broken mail; the caller
guards against the email package's own exceptions.
"""

import copy
import re
from collections.abc import Callable, Iterator
from email.message import Message
from email.parser import HeaderParser
from email.policy import compat32
from itertools import islice

from listserv.core.addresses import parse_address
from listserv.core.message import header_addresses
from listserv.core.replies import body_text
from listserv.errors import InvalidAddress

TEXT_LIMIT = 65536  # octets of each text part of a report that are read
NEARBY_LINES = 3  # lines after an address's mention that may say why it failed
MAX_ADDRESSES = 200  # addresses of one report's text looked at
MAX_MENTIONS = 5  # lines naming an address that are read for why it failed
MAX_DEPTH = 4  # multiparts within multiparts that are looked into
MAX_PARTS = 50  # parts of a report that are looked at

_STATUS = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
_ADDRESS = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+")
_RETURNED_TYPES = ("message/rfc822", "text/rfc822-headers", "text/rfc822-header",
                   "message/rfc822-headers")
_STATUS_TYPES = ("message/delivery-status", "message/global-delivery-status")
# Where a report written as text stops and the message it returns begins.
_RETURNED = re.compile(
    r"^\s*[-=_ ]*(?:this is a copy of the message|below (?:this line )?is a copy|original message|"
    r"unsent message follows|returned (?:mail|message)|message headers follow|"
    r"headers? (?:of the |of your )?original message|"
    r"content-type:\s*(?:message/rfc822|text/rfc822-headers))",
    re.IGNORECASE | re.MULTILINE)
_RECIPIENT_NAMES = {"final-recipient", "original-recipient"}
_RECIPIENT_FIELD = re.compile(r"^(?:final|original)-recipient:", re.IGNORECASE | re.MULTILINE)
# Text right before an address that makes it no recipient: "From: Alice <", "Hello ",
# "please contact ", "Message-ID: <".
_NOT_RECIPIENT = re.compile(
    r"(?:\b(?:from|sender|return-path|reply-to|message-id)\s*:?|\b(?:dear|hello|hi|contact)\b)"
    r"[^:@<>]{0,80}<?\s*$", re.IGNORECASE)
# A line of a transcript that starts another recipient's entry ("550 example.org…", ">>> ").
_NEW_ENTRY = re.compile(r"(?:\d{3}[ -]|>>>)")


def status_in(text: str) -> str:
    """The first enhanced status code (RFC 3463) in a text, '' if none."""
    match = _STATUS.search(text)
    return ".".join(match.groups()) if match else ""


def address_in(field: str) -> str:
    """The address in a recipient field ("rfc822; <a@example.org>"), '' when none is."""
    value = field.partition(";")[2] if ";" in field else field
    try:
        return str(parse_address(value.strip().strip("<>").strip()))
    except InvalidAddress:
        return ""


def key(address: str) -> str:
    """The match key of an address, or the address lower-cased when it is none."""
    try:
        return parse_address(address).key
    except InvalidAddress:
        return address.lower()


def report_parts(message: Message) -> Iterator[Message]:
    """The message and its parts, never looking inside a returned message (message/*),
    nor further than any report nests or numbers its parts."""
    return islice(_parts(message, 0), MAX_PARTS)


def _parts(message: Message, depth: int) -> Iterator[Message]:
    yield message
    payload = message.get_payload() if message.is_multipart() else None
    for part in payload if isinstance(payload, list) else ():
        if not isinstance(part, Message):
            continue
        if part.get_content_maintype() == "message" or not part.is_multipart():
            yield part
        elif depth < MAX_DEPTH:
            yield from _parts(part, depth + 1)


def is_returned(part: Message) -> bool:
    return part.get_content_type() in _RETURNED_TYPES


def report_text(message: Message) -> str:
    """The text of the report's own text parts, up to where a returned message starts."""
    texts = [body_text(part, TEXT_LIMIT) for part in report_parts(message)
             if part.get_content_maintype() == "text" and not is_returned(part)
             and not part.is_multipart()]
    if not texts and not message.is_multipart():  # a body the parser could not split
        texts = [str(message.get_payload())[:TEXT_LIMIT]]
    text = "\n".join(texts)
    match = _RETURNED.search(text)
    return text[:match.start()] if match else text


def without_returned(message: Message) -> Message:
    """A copy of the message without the messages it returns."""
    report = copy.deepcopy(message)
    for part in report.walk():
        payload = part.get_payload()
        if part.get_content_maintype() == "multipart" and isinstance(payload, list):
            kept: list[Message | str] = [p for p in payload if isinstance(p, Message)
                                         and not is_returned(p)]
            part.set_payload(kept[:MAX_PARTS])
    return report


def status_blocks(message: Message, text: str) -> list[Message]:
    """The delivery-status fields (RFC 3464) of each recipient: from the report's
    message/delivery-status parts, else from its text (a "technical report" pasted
    into a text part, or a multipart whose boundary is broken)."""
    blocks = [block for part in report_parts(message)
              if part.get_content_type() in _STATUS_TYPES for block in _field_blocks(part)]
    return blocks or _field_blocks_in(text)


def feedback_fields(message: Message) -> Message | None:
    """The fields of the report's message/feedback-report part (RFC 5965), if it has one."""
    for part in report_parts(message):
        if part.get_content_type() == "message/feedback-report":
            payload = part.get_payload()
            if isinstance(payload, list) and payload and isinstance(payload[0], Message):
                return payload[0]
            return HeaderParser(policy=compat32).parsestr(_decoded(part))
    return None


def returned_headers(message: Message) -> Message | None:
    """The header section of the message a report returns (whole or its headers), if any."""
    for part in report_parts(message):
        if part.get_content_type() == "message/rfc822" and part.is_multipart():
            returned = part.get_payload(0)
            return returned if isinstance(returned, Message) else None
        if is_returned(part):
            return HeaderParser(policy=compat32).parsestr(_decoded(part))
    return None


def returned_recipients(message: Message) -> list[str]:
    """The addresses in the To of the message a report returns."""
    headers = returned_headers(message)
    return [address for _, address in header_addresses(headers, "To")] if headers else []


def not_recipients(message: Message, text: str) -> set[str]:
    """Match keys of addresses that are no failed recipient: the report's sender, the
    author of the message it returns, and what its text gives as a sender or a contact
    ("From:", "Original Sender:", "Hello alice@…", "please contact …")."""
    named = header_addresses(message, "From")
    for part in report_parts(message):
        if part.get_content_type() == "message/rfc822" and part.is_multipart():
            returned = part.get_payload(0)
            if isinstance(returned, Message):
                named += header_addresses(returned, "From", "Sender")
    keys = {key(address) for _, address in named if "@" in address}
    for line in text.splitlines():
        keys.update(key(match.group()) for match in _ADDRESS.finditer(line)
                    if _NOT_RECIPIENT.search(line[:match.start()]))
    return keys


def lone_addresses(text: str, leave_out: set[str]) -> list[str]:
    """Addresses that have a line of the report's text to themselves (none other on it)."""
    found: dict[str, None] = {}
    for line in text.splitlines():
        named = {address.lower() for address in _ADDRESS.findall(line)}
        if len(named) == 1 and (address := address_in(named.pop())) \
                and key(address) not in leave_out:
            found[address] = None
        if len(found) >= MAX_ADDRESSES:
            break
    return list(found)


def reason_near(text: str, address: str, explains: Callable[[str], bool]) -> str:
    """What a report's text says about an address: the lines that mention it; where
    those do not explain the failure, the lines after (and then one before) them too,
    as long as they are about no other recipient. '' if the text never mentions it."""
    lines = [line.rstrip() for line in text.splitlines() if line.strip()]
    needle = address.lower()
    at = [index for index, line in enumerate(lines) if needle in line.lower()][:MAX_MENTIONS]
    reason = ""
    for before, after in ((0, 0), (0, NEARBY_LINES), (1, NEARBY_LINES)):
        reason = " ".join(" ".join(_around(lines, index, needle, before, after)) for index in at)
        if explains(reason):
            break
    return reason


def _around(lines: list[str], index: int, needle: str, before: int, after: int) -> list[str]:
    """The line at index, with lines before and after it that are about no other
    recipient: they name no other address, and start no other transcript entry."""
    def others(line: str) -> bool:
        return any(found.lower() != needle for found in _ADDRESS.findall(line))

    start = index
    while start > index - before and start > 0 and not others(lines[start - 1]):
        start -= 1
    end = index + 1
    while end <= index + after and end < len(lines) and not others(lines[end]) \
            and not _NEW_ENTRY.match(lines[end]):
        end += 1
    return [line.strip() for line in lines[start:end]]


def _decoded(part: Message) -> str:
    data = part.get_payload(decode=True)
    return data.decode("utf-8", "replace") if isinstance(data, bytes) else ""


def _field_blocks(part: Message) -> list[Message]:
    """A delivery-status part as one block of fields per recipient."""
    payload = part.get_payload()
    if not isinstance(payload, list):
        return _field_blocks_in(_decoded(part) or str(payload))
    return [recipient for block in payload if isinstance(block, Message)
            for recipient in _per_recipient(block)]


def _field_blocks_in(text: str) -> list[Message]:
    """The recipients' blocks of "Name: value" fields in a text."""
    parser = HeaderParser(policy=compat32)
    return [recipient for paragraph in re.split(r"\n[ \t]*\n", text.replace("\r\n", "\n"))
            if _RECIPIENT_FIELD.search(paragraph)
            for recipient in _per_recipient(parser.parsestr(paragraph.strip() + "\n"))]


def _per_recipient(block: Message) -> list[Message]:
    """A block of fields split where the next recipient's fields begin (some MTAs leave
    out the empty line between recipients); fields before the first recipient are not
    about one (the per-message fields)."""
    blocks: list[Message] = []
    seen: set[str] = set()
    for name, value in block.items():
        field = name.lower()
        if field in _RECIPIENT_NAMES and (not blocks or field in seen):
            blocks.append(Message())
            seen = set()
        if blocks:
            blocks[-1][name] = value
            seen.add(field)
    return blocks
