# SPDX-License-Identifier: Apache-2.0
"""VERP: the recipient's address inside the envelope sender, so a bounce names its member.

``alice@example.org`` on ``ops@example.com`` becomes
``ops-bounces+alice=example.org@example.com`` (the qmail/Postfix convention).
The encoding is reversible for every valid address: the last '=' separates
local part and domain (a domain has none), and what could not stand in an
unquoted local part (spaces and quotes of a quoted local part, '%', non-ASCII,
dots in the wrong places) is written as %XX octets of its UTF-8.
"""

import re

from listserv.core.addresses import parse_address, sub_address
from listserv.errors import InvalidAddress

_PLAIN = re.compile(r"[A-Za-z0-9!#$&'*+/=?^_`{|}~.-]")  # atext and '.', less '%'
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_DOT_ATOM = re.compile(r"[^\s\"(),.:;<>@\[\\\]]+(?:\.[^\s\"(),.:;<>@\[\\\]]+)*")


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


def encode(list_address: str, recipient: str) -> str:
    """The list's bounce address carrying recipient: ops-bounces+alice=example.org@…"""
    address = sender(sub_address(list_address, "-bounces"), recipient)
    if address is None:
        raise InvalidAddress(f"not an address: {recipient!r}")
    return address


def sender(bounce_address: str, recipient: str) -> str | None:
    """ops-bounces@… with recipient added after '+'; None when recipient is no valid address."""
    try:
        mailbox = parse_address(recipient)
    except InvalidAddress:
        return None
    local = _escape(_unquoted(mailbox.local_part))
    return sub_address(bounce_address, f"+{local}={_escape(mailbox.domain)}")


def decode(extension: str) -> str | None:
    """The member address from the part after '+', or None when it is no VERP address."""
    local, equals, domain = extension.rpartition("=")
    if not equals or not local or not domain:
        return None
    try:
        local, domain = _unescape(local), _unescape(domain)
    except (UnicodeDecodeError, ValueError):
        return None
    if not _DOT_ATOM.fullmatch(local):
        local = '"' + re.sub(r'(["\\])', r"\\\1", local) + '"'
    try:
        return str(parse_address(f"{local}@{domain}"))
    except InvalidAddress:
        return None
