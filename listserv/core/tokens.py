# SPDX-License-Identifier: Apache-2.0
"""Tokens that prove listserv made them: HMAC-SHA256 over a purpose and some fields.

A token carries its fields (base64url) and a tag; whoever lacks the site's
key can neither forge nor alter one, and a token made for one purpose never
passes for another. Tokens are not secret from their holder: put nothing in
the fields the holder may not read. Time is passed in (seconds since the
epoch), never read here.
"""

import base64
import binascii
import hashlib
import hmac
from collections.abc import Sequence

_SEPARATOR = "\x1f"  # ASCII unit separator: in no address, id or Message-ID
TAG_BYTES = 16  # 128 bits: no guessing


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, purpose: str, payload: bytes) -> bytes:
    return hmac.new(key, purpose.encode() + b"\0" + payload, hashlib.sha256).digest()


def sign(key: bytes, purpose: str, fields: Sequence[str], *, issued: int | None = None) -> str:
    """A token for these fields; with issued (epoch seconds) it can be made to expire."""
    values = [*fields, str(issued)] if issued is not None else list(fields)
    payload = _SEPARATOR.join(values).encode("utf-8")
    return f"{_b64(payload)}.{_b64(_mac(key, purpose, payload)[:TAG_BYTES])}"


def verify(key: bytes, purpose: str, token: str, *, now: int | None = None,
           max_age: int | None = None) -> tuple[str, ...] | None:
    """The fields of a token listserv made for this purpose; None for anything else.

    With max_age the token must carry its issue time (sign(..., issued=)) and
    be at most that many seconds old at now.
    """
    body, dot, tag = token.partition(".")
    if not dot:
        return None
    try:
        payload, given = _unb64(body), _unb64(tag)
    except (binascii.Error, ValueError):
        return None
    if not hmac.compare_digest(given, _mac(key, purpose, payload)[:TAG_BYTES]):
        return None
    fields = tuple(payload.decode("utf-8").split(_SEPARATOR))
    if max_age is None:
        return fields
    if now is None or not fields or not fields[-1].isdigit():
        return None
    issued = int(fields[-1])
    return fields[:-1] if 0 <= now - issued <= max_age else None


def short_tag(key: bytes, purpose: str, fields: Sequence[str], length: int = 10) -> str:
    """A short tag (lower-case base32, as local parts may lose their case) for addresses
    such as signed VERP bounce addresses: length characters, 5 bits each."""
    payload = _SEPARATOR.join(fields).encode("utf-8")
    digest = base64.b32encode(_mac(key, purpose, payload)).decode("ascii").lower()
    return digest[:length]


def matches(tag: str, expected: str) -> bool:
    """Compare tags in constant time, ignoring letter case."""
    return hmac.compare_digest(tag.lower().encode(), expected.lower().encode())


UNSUBSCRIBE = "unsubscribe"


def unsubscribe_token(key: bytes, list_id: int, match_key: str) -> str:
    """The token of a member's one-click unsubscribe and preferences link (RFC 8058): it
    names the list and the member, never expires, and outlives every other change."""
    return sign(key, UNSUBSCRIBE, [str(list_id), match_key])


def read_unsubscribe_token(key: bytes, token: str) -> tuple[int, str] | None:
    """The list id and member match key of an unsubscribe token; None if listserv did not
    make it."""
    fields = verify(key, UNSUBSCRIBE, token)
    if fields is None or len(fields) != 2 or not fields[0].isdigit():
        return None
    return int(fields[0]), fields[1]
