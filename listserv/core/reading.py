# SPDX-License-Identifier: Apache-2.0
"""What a reader sees of a stored message: the text to show, and the other parts as
attachments, numbered by their place among the message's parts.

A multipart/alternative shows its text/plain part, its HTML only when it has
no plain text (RFC 2046 section 5.1.4 lets the reader choose); other
multiparts show each inline text part in turn. Everything else is an
attachment, offered for download under a name and a type that cannot make a
browser run it. Nothing here raises on a malformed message.
"""

import mimetypes
import re
from dataclasses import dataclass
from email.message import Message
from urllib.parse import quote

# Images a browser only ever displays; SVG is left out: it can carry script.
SAFE_IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
DOWNLOAD_TYPE = "application/octet-stream"
_UNSAFE_NAME = re.compile(r'[\x00-\x1f\x7f/\\"]')
_MAX_NAME = 200


@dataclass(frozen=True, slots=True)
class Shown:
    """A text part shown in the page: plain text, or HTML still to be cleaned."""

    text: str
    html: bool = False


@dataclass(frozen=True, slots=True)
class Attachment:
    number: int  # the part's place among the message's parts, from 1
    filename: str
    content_type: str
    size: int  # octets, decoded


@dataclass(frozen=True, slots=True)
class Reading:
    shown: tuple[Shown, ...]
    attachments: tuple[Attachment, ...]


def _is_container(part: Message) -> bool:
    return part.is_multipart() and part.get_content_maintype() == "multipart"


def _children(part: Message) -> list[Message]:
    payload = part.get_payload()
    return [child for child in payload if isinstance(child, Message)] \
        if isinstance(payload, list) else []


def parts(message: Message) -> list[Message]:
    """The message's parts that are no multipart, in order (an attached message is one)."""
    found, stack = [], [message]
    while stack:  # no recursion: MIME can nest deeper than Python's stack
        part = stack.pop()
        if _is_container(part):
            stack.extend(reversed(_children(part)))
        else:
            found.append(part)
    return found


def _preferred(alternatives: list[Message]) -> list[Message]:
    for wanted in ("text/plain", "text/html"):
        for part in alternatives:
            if part.get_content_type() == wanted and not _is_attachment(part):
                return [part]
    return alternatives[-1:]


def _is_attachment(part: Message) -> bool:
    return part.get_content_disposition() == "attachment"


def _is_shown(part: Message) -> bool:
    return part.get_content_type() in ("text/plain", "text/html") and not _is_attachment(part)


def read(message: Message) -> Reading:
    """The parts shown, in order, and the attachments."""
    numbers = {id(part): number for number, part in enumerate(parts(message), start=1)}
    shown, attachments = [], []
    stack = [message]
    while stack:
        part = stack.pop()
        if _is_container(part):
            children = _children(part)
            if part.get_content_subtype() == "alternative":
                children = _preferred(children)
            stack.extend(reversed(children))
        elif _is_shown(part):
            shown.append(Shown(text(part), html=part.get_content_subtype() == "html"))
        else:
            attachments.append(describe(part, numbers[id(part)]))
    return Reading(tuple(shown), tuple(attachments))


def text(part: Message) -> str:
    """A text part's content as text (in whatever charset it names, else UTF-8), with
    Unix line endings."""
    try:
        found = part.get_content()  # type: ignore[attr-defined]
    except Exception:  # unknown charsets, broken transfer encodings
        found = None
    if not isinstance(found, str):
        data = part.get_payload(decode=True)
        data = data if isinstance(data, bytes) else b""
        try:
            found = data.decode(part.get_content_charset() or "utf-8", "replace")
        except LookupError:
            found = data.decode("utf-8", "replace")
    return found.replace("\r\n", "\n").replace("\x00", "")


def content(part: Message) -> bytes:
    """A part's octets, decoded from its transfer encoding (an attached message whole)."""
    if part.is_multipart():  # message/rfc822 and friends
        try:
            return part.get_payload(0).as_bytes()  # type: ignore[union-attr]
        except Exception:
            return b""
    data = part.get_payload(decode=True)
    return data if isinstance(data, bytes) else b""


def describe(part: Message, number: int) -> Attachment:
    content_type = part.get_content_type()
    try:
        filename = part.get_filename() or ""
    except Exception:  # malformed RFC 2231 parameters
        filename = ""
    if not filename:
        extension = ".eml" if content_type == "message/rfc822" else (
            mimetypes.guess_extension(content_type) or ".bin")
        filename = f"part-{number}{extension}"
    return Attachment(number, _safe_name(filename), content_type, len(content(part)))


def _safe_name(filename: str) -> str:
    name = _UNSAFE_NAME.sub("_", " ".join(filename.split())).lstrip(".")
    return name[:_MAX_NAME] or "attachment"


def download_type(content_type: str) -> str:
    """The type an attachment is served as: a safe image's own, else opaque octets."""
    return content_type if content_type in SAFE_IMAGE_TYPES else DOWNLOAD_TYPE


def content_disposition(filename: str) -> str:
    """Content-Disposition: attachment, the name in ASCII and in UTF-8 (RFC 6266)."""
    fallback = filename.encode("ascii", "replace").decode().replace("?", "_")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"
