# SPDX-License-Identifier: Apache-2.0
"""Header sections without trusting them: the limits at intake, and values read in linear time.

The email package's header model (policy.default) copies the rest of a value at
every token it takes, so parsing costs the square of the value's length; a run
of encoded words is worse, each word keeping a copy of the rest (CPython
gh-136063). A post with a 900 KB Subject held the server for 25 s and took
7 GB. So listserv reads header values with its own scan, linear in their
length (decoded_value, addresses_in), and the header model never sees more
than MAX_PARSED characters of one value (BoundedPolicy). Nothing here raises
on bad input.
"""

import base64
import binascii
import functools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from email.headerregistry import HeaderRegistry
from email.message import Message
from email.policy import EmailPolicy
from email.utils import getaddresses
from enum import StrEnum
from typing import Any

# The header model parses a value in time that grows with its square: 1,024
# characters cost it at most a few milliseconds, whatever they are. Longer values
# are only ever parsed this far; they are still written out whole, as received.
MAX_PARSED = 1024
PARSED_CACHE = 32  # parsed values kept (one of MAX_PARSED characters can take 1 MB)
# What the rules, notices and the archive read of one header value (characters).
MAX_TEXT = 64 * 1024
# The header fields that name people (RFC 5322 3.6.2, 3.6.3, 3.6.6).
ADDRESS_FIELDS = frozenset({
    b"from", b"sender", b"reply-to", b"to", b"cc", b"bcc", b"resent-from", b"resent-sender",
    b"resent-to", b"resent-cc", b"resent-bcc"})

# RFC 2047 section 2; the charset may carry an RFC 2231 language (utf-8*en).
_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([QqBb])\?([^?\s]*)\?=")
_LINE = re.compile(rb"[^\n]*\n?")
_LINE_BREAK = re.compile(r"[\r\n]")


class _Registry(HeaderRegistry):
    """The standard header classes, each made once (the registry makes a new class for
    every value it parses, a fifth of the cost of parsing a short one)."""

    def __init__(self) -> None:
        super().__init__()
        self._made: dict[type, type] = {}

    def __getitem__(self, name: str) -> type:
        chosen = self.registry.get(name.lower(), self.default_class)
        if chosen not in self._made:
            self._made[chosen] = super().__getitem__(name)
        return self._made[chosen]


class BoundedPolicy(EmailPolicy):
    """policy.default whose header model parses at most MAX_PARSED characters of a value.

    The message keeps every value whole: the generator writes what was
    received (refold_source="none"), and header_text reads it in linear time.
    What the email package itself parses (Content-Type, Content-Disposition…)
    and what code fetches with message[name] sees the start of a longer value.
    """

    def __init__(self, **kw: Any) -> None:
        kw.setdefault("header_factory", _Registry())
        super().__init__(**kw)

    def header_fetch_parse(self, name: str, value: str) -> Any:
        if hasattr(value, "name"):
            return value  # set by code, parsed already
        # Unfolded as EmailPolicy does: at CR and LF only (splitlines() knows more breaks).
        return _parsed(self.header_factory, name, _LINE_BREAK.sub("", value[:MAX_PARSED]))


# The parser asks for a part's Content-Type five times, and the pipeline again later;
# parsed headers are immutable, so the same value is parsed once (a 5,000-part
# message took 1.4 s to parse without this).
@functools.lru_cache(maxsize=PARSED_CACHE)
def _parsed(factory: Callable[[str, str], Any], name: str, value: str) -> Any:
    return factory(name, value)


def set_fields(part: Message, fields: Iterable[tuple[str, Any]]) -> None:
    """Give the part exactly these header fields (name, value as stored), in this order.

    The email package deletes fields one name at a time, each deletion a pass
    over all of them: 10,000 names under the 100 KB limit took seconds (#14.2).
    Message keeps its fields in one list; it is replaced whole.
    """
    part._headers = list(fields)  # type: ignore[attr-defined]


class HeaderProblem(StrEnum):
    """Why a message is refused at DATA for its header section."""

    TOO_BIG = "header section too big"
    TOO_MANY_ADDRESSES = "too many addresses in the header"
    NUL_IN_MESSAGE_ID = "a NUL byte in the Message-ID"
    MESSAGE_ID_NOT_UTF8 = "a Message-ID that is not UTF-8"


@dataclass(frozen=True, slots=True)
class HeaderLimits:
    """The site's limits on a header section; 0 means no limit."""

    max_size: int = 0  # octets from the first header to the empty line
    max_addresses: int = 0  # addresses in From, To, Cc… together (each @ counts)


def header_section_problem(raw: bytes, limits: HeaderLimits) -> HeaderProblem | None:
    """What is wrong with the message's header section, or None: one pass over its octets.

    Like Postfix's header_size_limit and header_address_token_limit, these
    keep headers that no mail program writes from costing the server anything.
    So is a Message-ID with a NUL (no PostgreSQL text keeps it: the sender
    would get 451s for days) or with octets that are not UTF-8 (read as
    U+FFFD, distinct ids would be one to duplicate detection).
    """
    size, addresses, in_address_field, in_message_id = 0, 0, False, False
    for line in _LINE.finditer(raw):
        text = line.group()
        if text in (b"\r\n", b"\n", b""):
            break  # the empty line that ends the header section, or the end of the message
        size += len(text)
        if limits.max_size and size > limits.max_size:
            return HeaderProblem.TOO_BIG
        if text[:1] not in (b" ", b"\t"):  # a new field, not a folded line of the last one
            name = text.partition(b":")[0].strip().lower()
            in_address_field, in_message_id = name in ADDRESS_FIELDS, name == b"message-id"
        if in_message_id and (problem := _unstorable_message_id(text)):
            return problem
        if in_address_field:
            addresses += text.count(b"@")
            if limits.max_addresses and addresses > limits.max_addresses:
                return HeaderProblem.TOO_MANY_ADDRESSES
    return None


def _unstorable_message_id(line: bytes) -> HeaderProblem | None:
    if b"\x00" in line:
        return HeaderProblem.NUL_IN_MESSAGE_ID
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        return HeaderProblem.MESSAGE_ID_NOT_UTF8
    return None


def decoded_value(value: str, limit: int = MAX_TEXT) -> str:
    """A raw header value as text on one line: encoded words decoded, raw octets read as
    UTF-8, runs of whitespace made one space; at most `limit` characters are read."""
    words: list[str] = []
    previous_encoded = False
    for word in _readable(value[:limit]).split():
        encoded = _ENCODED_WORD.fullmatch(word) is not None
        # RFC 2047 section 6.2: white space between adjacent encoded words is not text.
        if words and not (encoded and previous_encoded):
            words.append(" ")
        words.append(_ENCODED_WORD.sub(_decoded_word, word) if "=?" in word else word)
        previous_encoded = encoded
    return " ".join("".join(words).split())


def addresses_in(values: Iterable[str], limit: int = MAX_TEXT) -> list[tuple[str, str]]:
    """(display name, address) pairs in raw address header values, names decoded.

    The values are split before the names are decoded (RFC 2047 section 6.2):
    an encoded comma in a name does not split it. Each value is read up to
    `limit` characters.
    """
    try:
        pairs = getaddresses([_readable(value[:limit]) for value in values])
    except Exception:  # RecursionError on deeply nested comments
        return []
    return [(decoded_value(name), address) for name, address in pairs]


def _readable(value: str) -> str:
    """Raw octets (kept by the parser as surrogate escapes) read as UTF-8, or U+FFFD."""
    try:
        return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:  # a lone surrogate that is no escaped octet
        return value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def _decoded_word(match: "re.Match[str]") -> str:
    """One encoded word as text; left as written when it does not decode."""
    charset, encoding, text = match.group(1).partition("*")[0], match.group(2), match.group(3)
    try:
        data = text.encode("ascii")
        if encoding in "Qq":
            octets = binascii.a2b_qp(data, header=True)
        else:
            octets = base64.b64decode(data + b"=" * (-len(data) % 4), validate=True)
    except (UnicodeEncodeError, binascii.Error, ValueError):
        return match.group()
    try:
        return octets.decode(charset, "replace")
    except Exception:  # LookupError for an unknown charset, or a codec that is no text codec
        return octets.decode("utf-8", "replace")
