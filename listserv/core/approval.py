# SPDX-License-Identifier: Apache-2.0
"""Approval by the list's moderator password, as Mailman's "Approved:" does it.

The password comes in an Approved: header (or Approve:, X-Approved:, X-Approve:)
or as the first non-blank line of the text body. A body line must not reach the
members: strip_approval() cuts it out of the raw message, and out of the HTML
alternative that repeats it, leaving every other octet as it came. Nothing here
raises on bad input; what cannot be read or safely changed is left alone.
"""

import base64
import binascii
import quopri
import re
from dataclasses import dataclass
from email import quoprimime
from email.message import Message
from enum import StrEnum
from html.entities import codepoint2name
from html.parser import HTMLParser

from listserv.core.message import parse_post
from listserv.core.passwords import verify_password

FAILURES_PER_HOUR = 10  # wrong passwords a list takes before it ignores the password
_HEADERS = frozenset({"approved", "approve", "x-approved", "x-approve"})
_APPROVAL_LINE = re.compile(r"[\s\ufeff]*(?:x-)?approved?\s*:\s*(?P<password>.*?)\s*", re.I)
_LINE = re.compile(rb"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")
_BLANK_LINES = re.compile(rb"(?:[ \t\f\v]*(?:\r\n|\r|\n))*")
_LINE_END = re.compile(rb"\r?\n")
# The header section as the email package's feedparser reads it (its headerRE): header
# and continuation lines up to the first line that is none, which ends it if it is empty.
_HEADER_SECTION = re.compile(
    rb"(?:(?:From |[\x21-\x39\x3b-\x7e]*:|[\t ])[^\r\n]*(?:\r\n|\r|\n|\Z))*(?:\r\n|\r|\n)?")
_FINAL_LINE_END = re.compile(rb"(?:\r\n|\r|\n)\Z")
_SPACE = r"(?:\s|&nbsp;|&#0*160;|&#[xX]0*[aA]0;)"
_BR = r"(?i:<br\b[^<>]*>)"
_EMPTY_BLOCK = rf"(?i:<(?P<blank>p|div)\b[^<>]*>(?:{_SPACE}|{_BR})*</(?P=blank)\s*>)"
_HTML_BREAKS = frozenset({"br", "p", "div", "li", "tr", "table", "blockquote", "pre", "hr",
                          "h1", "h2", "h3", "h4", "h5", "h6", "body"})
_HTML_HIDDEN = frozenset({"head", "title", "style", "script", "template"})
_HTML_CHUNK = 4096
_HTML_SCAN = 1 << 18  # the approval line is the first text; no need to read further


@dataclass(frozen=True, slots=True)
class _Leaf:
    """A text/plain or text/html part of the message body (not an attachment)."""

    part: Message
    subtype: str
    alternative: Message | None  # the nearest multipart/alternative around it
    span: tuple[int, int] | None  # where its encoded body lies in the raw message


@dataclass(frozen=True, slots=True)
class _Cut:
    """The approval line (and a blank line after it) in a decoded text body."""

    start: int
    end: int
    password: str


def find_password(message: Message) -> str | None:
    """The password an approval header or the first body line carries; None if none does."""
    try:
        return _header_password(message) or _body_password(message)
    except Exception:  # the email package raises on MIME nobody foresaw
        return None


class Approval(StrEnum):
    NONE = "none"  # no password offered, or the list has none
    WRONG = "wrong"
    RIGHT = "right"


def check_approval(message: Message, password_hash: str) -> Approval:
    """Whether the post carries the list's moderator password, a wrong one or none."""
    password = find_password(message) if password_hash else None
    if password is None:
        return Approval.NONE
    try:
        right = verify_password(password, password_hash)
    except (ValueError, OverflowError):  # a malformed stored hash; a password with surrogates
        right = False
    return Approval.RIGHT if right else Approval.WRONG


def is_locked(failures: int) -> bool:
    """Whether a list's password is past guessing: FAILURES_PER_HOUR wrong ones within the
    hour, after which posts are moderated as if they carried none (the right one too)."""
    return failures >= FAILURES_PER_HOUR


def approved_post(raw: bytes) -> bytes | None:
    """The post to distribute, once it is known to carry the moderator password: without
    the body line.

    None when a body password could not be removed: then the post is
    moderated like any other rather than sending the password to every member.
    """
    stripped = strip_approval(raw)
    try:
        left = _body_password(parse_post(stripped).message)
    except Exception:  # the email package raises on MIME nobody foresaw
        return None
    return stripped if left is None else None


def strip_approval(raw: bytes) -> bytes:
    """The raw message without the approval line in its body; raw itself when there is none.

    NUL octets are dropped from a message that is changed, as parse_post drops them.
    """
    clean = raw.replace(b"\x00", b"")
    try:
        edits = _edits(clean)
    except Exception:  # the email package raises on MIME nobody foresaw
        return raw
    if not edits:
        return raw
    for start, end, octets in sorted(edits, reverse=True):
        clean = clean[:start] + octets + clean[end:]
    return clean


def _header_password(message: Message) -> str | None:
    for name, value in message.raw_items():
        if name.strip().lower() in _HEADERS:
            try:
                password = str(message.policy.header_fetch_parse(name, value)).strip()
            except Exception:  # an undecodable header is no password
                continue
            if password:
                return password
    return None


def _body_password(message: Message) -> str | None:
    body = _main_body(_text_leaves(message, None))
    data = _payload(body.part) if body else None
    if body is None or data is None:
        return None
    if body.subtype == "plain":
        cut = _plain_cut(data, _charset(body.part))
        return cut.password if cut else None
    return _html_password(_html_decoded(data, _charset(body.part))[0])


def _edits(raw: bytes) -> list[tuple[int, int, bytes]]:
    """(start, end, octets) replacements that take the approval line out of the raw message."""
    leaves = _text_leaves(parse_post(raw).message, raw)
    body = _main_body(leaves)
    if body is None or body.span is None:
        return []
    if body.subtype == "html":  # the only body: its own first line says the password
        edit = _html_edit(raw, body, None)
        return [edit] if edit else []
    data = _verified_payload(raw, body.part, body.span)
    cut = _plain_cut(data, _charset(body.part)) if data is not None else None
    if data is None or cut is None:
        return []
    edits = [_edit(raw, body.part, body.span, data[:cut.start] + data[cut.end:])]
    if body.alternative is None:
        return edits
    for leaf in leaves:  # the HTML alternatives often repeat the line
        if leaf.subtype == "html" and leaf.alternative is body.alternative:
            html = _html_edit(raw, leaf, cut.password)
            edits += [html] if html else []
    return edits


def _text_leaves(message: Message, raw: bytes | None) -> list[_Leaf]:
    """The text parts of the body in order, located in raw when it is given.

    Walks multiparts only: a forwarded message/rfc822 is someone else's text.
    """
    leaves = []
    stack: list[tuple[Message, Message | None, tuple[int, int] | None]] = [
        (message, None, (0, len(raw)) if raw is not None else None)]
    while stack:
        part, alternative, span = stack.pop()
        content_type = part.get_content_type()
        if content_type.startswith("multipart/") and part.is_multipart():
            if content_type == "multipart/alternative":
                alternative = part
            children = [child for child in part.get_payload() if isinstance(child, Message)]
            spans = _child_spans(raw, span, part) if raw is not None and span else None
            located = spans if spans and len(spans) == len(children) else [None] * len(children)
            stack += reversed([(child, alternative, where)
                               for child, where in zip(children, located, strict=True)])
        elif (content_type in ("text/plain", "text/html") and not part.is_multipart()
              and part.get_content_disposition() != "attachment"):
            body = _leaf_span(raw, span, part is not message) if raw is not None and span else None
            leaves.append(_Leaf(part, content_type[5:], alternative, body))
    return leaves


def _main_body(leaves: list[_Leaf]) -> _Leaf | None:
    """The first text/plain part, else the first text/html one."""
    return next(iter([leaf for leaf in leaves if leaf.subtype == "plain"] or leaves), None)


def _body_start(raw: bytes, start: int, end: int) -> int:
    """Where an entity's body begins, after its header section."""
    found = _HEADER_SECTION.match(raw, start, end)
    return found.end() if found else start


def _leaf_span(raw: bytes, span: tuple[int, int], nested: bool) -> tuple[int, int]:
    """Where a text part's encoded body lies in raw."""
    start, end = _body_start(raw, *span), span[1]
    if nested and end == len(raw):  # the parser drops the line end of a part that EOF cuts off
        found = _FINAL_LINE_END.search(raw, max(start, end - 2))
        end = found.start() if found else end
    return start, end


def _child_spans(raw: bytes, span: tuple[int, int], part: Message) -> list[tuple[int, int]]:
    """Where each part of a multipart lies in raw, cut as the email package's parser cuts."""
    boundary = part.get_boundary()
    if not boundary:
        return []
    # RFC 2046 section 5.1.1: the line end before a delimiter belongs to the delimiter.
    escaped = re.escape(boundary.encode("ascii", "surrogateescape"))
    delimiter = re.compile(rb"(?<![^\r\n])--" + escaped + rb"(?P<close>--)?[ \t]*(?:\r\n|\r|\n|\Z)")
    spans: list[tuple[int, int]] = []
    opened = None
    for match in delimiter.finditer(raw, _body_start(raw, *span), span[1]):
        if match.start() == opened:  # the parser reads repeated delimiters as one
            opened = match.end()
            continue
        if opened is not None:
            before = match.start() - (2 if raw.startswith(b"\r\n", match.start() - 2) else 1)
            spans.append((opened, max(opened, before)))
        if match["close"]:
            return spans
        opened = match.end()
    return [*spans, (opened, span[1])] if opened is not None else spans


def _payload(part: Message) -> bytes | None:
    """The decoded body, None when decoding it finds damage (e.g. broken base64)."""
    defects = len(part.defects)
    data = part.get_payload(decode=True)
    return data if isinstance(data, bytes) and len(part.defects) == defects else None


def _verified_payload(raw: bytes, part: Message, span: tuple[int, int]) -> bytes | None:
    """The decoded body, when the octets at span decode to it as well."""
    data = _payload(part)
    if data is None:
        return None
    encoded = raw[span[0]:span[1]]
    transfer = _transfer_encoding(part)
    try:
        if transfer == "quoted-printable":
            encoded = quopri.decodestring(encoded)
        elif transfer == "base64":
            encoded = binascii.a2b_base64(encoded)
    except binascii.Error:
        return None
    return data if encoded == data else None


def _edit(raw: bytes, part: Message, span: tuple[int, int],
          data: bytes) -> tuple[int, int, bytes]:
    """Replace the body at span with data in the part's own transfer encoding."""
    newline = found.group() if (found := _LINE_END.search(raw)) else b"\r\n"
    transfer = _transfer_encoding(part)
    if transfer == "quoted-printable":
        octets = quoprimime.body_encode(data.decode("latin-1"), eol=newline.decode()).encode()
    elif transfer == "base64":
        ended = span[1] > span[0] and raw[span[1] - 1] in b"\r\n"
        octets = newline.join(base64.encodebytes(data).splitlines()) + (newline if ended else b"")
    else:  # 7bit, 8bit, binary: the octets as they are
        octets = data
    return span[0], span[1], octets


def _transfer_encoding(part: Message) -> str:
    # Read exactly as Message.get_payload reads it: " base64" is no base64 there.
    return str(part.get("Content-Transfer-Encoding", "")).lower()


def _charset(part: Message) -> str:
    return str(part.get_content_charset() or "us-ascii")


def _plain_cut(data: bytes, charset: str) -> _Cut | None:
    """The approval line, when it is the first non-blank line of a text/plain body."""
    skipped = _BLANK_LINES.match(data)  # at C speed: a body may start with a million
    lines = _LINE.finditer(data, skipped.end() if skipped else 0)
    for line in lines:
        if not _is_blank(line.group(), charset):
            break
    else:
        return None
    found = _APPROVAL_LINE.fullmatch(_line_text(line.group(), charset) or "")
    if found is None or not found["password"]:
        return None
    following = next(lines, None)
    end = following.end() if following and _is_blank(following.group(), charset) else line.end()
    return _Cut(line.start(), end, found["password"])


def _is_blank(line: bytes, charset: str) -> bool:
    text = _line_text(line, charset)
    return text is not None and not text.strip()


def _line_text(line: bytes, charset: str) -> str | None:
    for codec in (charset, "ascii"):
        try:
            return line.decode(codec)
        except (LookupError, UnicodeError):
            continue
    return None


def _html_decoded(data: bytes, charset: str) -> tuple[str, str, str]:
    """(text, codec, errors) that decode the HTML and encode it back to the same octets."""
    for codec in (charset, "utf-8"):
        try:
            text = data.decode(codec)
            if text.encode(codec) == data:
                return text, codec, "strict"
        except (LookupError, UnicodeError):
            continue
    return data.decode("ascii", "surrogateescape"), "ascii", "surrogateescape"


def _html_edit(raw: bytes, leaf: _Leaf, password: str | None) -> tuple[int, int, bytes] | None:
    """Take the approval text out of an HTML part; its own first line names it if not given."""
    data = _verified_payload(raw, leaf.part, leaf.span) if leaf.span else None
    if data is None or leaf.span is None:
        return None
    text, codec, errors = _html_decoded(data, _charset(leaf.part))
    password = password or _html_password(text)
    if not password:
        return None
    stripped = _html_approval(password).sub("", text, count=1)
    if stripped == text:
        return None
    return _edit(raw, leaf.part, leaf.span, stripped.encode(codec, errors))


def _html_password(html: str) -> str | None:
    """The password on the first line an HTML body shows, if strip_approval can remove it."""
    reader = _FirstLine()
    for start in range(0, min(len(html), _HTML_SCAN), _HTML_CHUNK):
        reader.feed(html[start:start + _HTML_CHUNK])
        if reader.line is not None:
            break
    else:
        reader.close()  # a body that is one line of text, without a tag to end it
    found = _APPROVAL_LINE.fullmatch(reader.line or "")
    password = found["password"] if found else ""
    return password if password and _html_approval(password).search(html) else None


def _html_approval(password: str) -> re.Pattern[str]:
    """The approval text as HTML writes it, with an enclosing empty <p> or <div>, or a <br>
    after it, and one blank line after that."""
    secret = "".join(f"{_SPACE}+" if char.isspace() else _html_char(char) for char in password)
    return re.compile(
        rf"(?P<open><(?P<tag>(?i:p|div))\b[^<>]*>{_SPACE}*)?"
        rf"(?i:(?:x-)?approved?){_SPACE}*:{_SPACE}*{secret}(?![^\s<&])"
        rf"{_SPACE}*(?:{_BR})?(?(open){_SPACE}*(?i:</(?P=tag)\s*>))"
        rf"(?:{_SPACE}*(?:{_BR}|{_EMPTY_BLOCK}))?")


def _html_char(char: str) -> str:
    """A character as HTML may write it: itself or a character reference."""
    forms = [re.escape(char), f"&#0*{ord(char)};", f"(?i:&#x0*{ord(char):x};)"]
    if name := codepoint2name.get(ord(char)):
        forms.append(f"&{name};")
    return "(?:" + "|".join(forms) + ")"


class _FirstLine(HTMLParser):
    """Reads HTML up to the end of the first non-blank line of text it shows."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.line: str | None = None
        self._text: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._tag(tag, 1)

    def handle_endtag(self, tag: str) -> None:
        self._tag(tag, -1)

    def handle_data(self, data: str) -> None:
        if not self._hidden and self.line is None:
            self._text.append(data)

    def close(self) -> None:
        super().close()
        self._end_line()

    def _tag(self, tag: str, step: int) -> None:
        if tag in _HTML_HIDDEN:
            self._hidden = max(0, self._hidden + step)
        elif tag in _HTML_BREAKS:
            self._end_line()

    def _end_line(self) -> None:
        if self.line is None:
            # HTML collapses white space, a no-break space included, as typed text has it.
            text = " ".join("".join(self._text).split())
            self.line, self._text = text or None, []
