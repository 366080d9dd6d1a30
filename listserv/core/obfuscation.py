# SPDX-License-Identifier: Apache-2.0
"""Addresses as the archive shows them to the public: obfuscated, hidden or as written.

Public pages never reveal a raw address (a list's archive_addresses=show
says otherwise). conceal_text finds addresses in any text (a body, a quoted
header, a search snippet with its highlight markers, HTML already cleaned),
conceal_headers in the header section of a raw message offered for download.
"""

import re

from listserv.core.message import header_block
from listserv.core.policy import ArchiveAddresses
from listserv.core.search import MARK_END, MARK_START

HIDDEN = "[address hidden]"
_ATOM = r"[\w.!#$%&'*+/=?^`{|}~" + MARK_START + MARK_END + "-]"
_LABEL = r"[\w" + MARK_START + MARK_END + "-]+"
# A "mailto:" before the address goes with it: a link to a concealed address is no link.
_ADDRESS = re.compile(rf"(?:mailto:)?({_ATOM}+)@({_LABEL}(?:\.{_LABEL})+)", re.IGNORECASE)
# Header fields that hold message identifiers, not addresses (RFC 5322 section 3.6.4).
_IDENTIFIERS = frozenset({b"message-id", b"in-reply-to", b"references", b"content-id",
                          b"resent-message-id", b"original-message-id"})
_FIELD = re.compile(rb"^([!-9;-~]+):", re.MULTILINE)


def conceal(address: str, mode: ArchiveAddresses) -> str:
    """One address as the list shows it: 'alice at example.org', '' when hidden."""
    if mode is ArchiveAddresses.SHOW or "@" not in address:
        return address
    if mode is ArchiveAddresses.HIDE:
        return ""
    local, _, domain = address.rpartition("@")
    return f"{local} at {domain}"


def conceal_text(text: str, mode: ArchiveAddresses) -> str:
    """The text with every address in it concealed."""
    if mode is ArchiveAddresses.SHOW:
        return text
    replacement = HIDDEN if mode is ArchiveAddresses.HIDE else r"\1 at \2"
    return _ADDRESS.sub(replacement, text)


def conceal_headers(raw: bytes, mode: ArchiveAddresses) -> bytes:
    """The raw message with the addresses in its header fields concealed; the body as is.

    Message identifiers look like addresses and stay whole (threading needs
    them); the octets are otherwise kept as they were.
    """
    if mode is ArchiveAddresses.SHOW:
        return raw
    head = header_block(raw)
    fields = _FIELD.split(head)
    # split gives [preamble, name, rest, name, rest, …]; a rest runs to the next field.
    parts = [_conceal_octets(fields[0], mode)]  # lines before the first field, if any
    for name, rest in zip(fields[1::2], fields[2::2], strict=True):
        if name.lower() not in _IDENTIFIERS:
            rest = _conceal_octets(rest, mode)
        parts += [name, b":", rest]
    return b"".join(parts) + raw[len(head):]


def _conceal_octets(data: bytes, mode: ArchiveAddresses) -> bytes:
    text = data.decode("utf-8", "surrogateescape")
    return conceal_text(text, mode).encode("utf-8", "surrogateescape")
