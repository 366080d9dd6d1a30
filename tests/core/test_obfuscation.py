# SPDX-License-Identifier: Apache-2.0
"""Addresses as the public archive shows them."""

import pytest

from listserv.core.message import header_block
from listserv.core.obfuscation import HIDDEN, conceal, conceal_headers, conceal_text
from listserv.core.policy import ArchiveAddresses
from listserv.core.search import MARK_END, MARK_START

OBFUSCATE, HIDE, SHOW = ArchiveAddresses.OBFUSCATE, ArchiveAddresses.HIDE, ArchiveAddresses.SHOW


@pytest.mark.parametrize(("mode", "expected"), [
    (OBFUSCATE, "alice at example.org"), (HIDE, ""), (SHOW, "alice@example.org")])
def test_one_address(mode: ArchiveAddresses, expected: str) -> None:
    assert conceal("alice@example.org", mode) == expected
    assert conceal("", mode) == ""


@pytest.mark.parametrize(("text", "expected"), [
    ("Write to alice@example.org.", "Write to alice at example.org."),
    ("On Monday, Bob <bob.smith+lists@mail.example.net> wrote:",
     "On Monday, Bob <bob.smith+lists at mail.example.net> wrote:"),
    ("mailto:carol@example.org", "carol at example.org"),
    ("Jörg <jörg@bücher.example>", "Jörg <jörg at bücher.example>"),
    ("> From: o'brien@example.ie\n> To: ops@example.com",
     "> From: o'brien at example.ie\n> To: ops at example.com"),
    ("user@localhost and @handle and a@b", "user@localhost and @handle and a@b"),
    (f"{MARK_START}alice{MARK_END}@example.org", f"{MARK_START}alice{MARK_END} at example.org"),
    (f"alice@{MARK_START}example{MARK_END}.org", f"alice at {MARK_START}example{MARK_END}.org"),
])
def test_addresses_in_text_are_obfuscated(text: str, expected: str) -> None:
    assert conceal_text(text, OBFUSCATE) == expected
    assert "@" not in conceal_text(text, HIDE).replace("@localhost", "").replace(
        "@handle", "").replace("a@b", "")
    assert conceal_text(text, SHOW) == text


def test_hidden_addresses_leave_a_placeholder() -> None:
    assert conceal_text("Ask alice@example.org or bob@example.net", HIDE) == \
        f"Ask {HIDDEN} or {HIDDEN}"


RAW = (b"Received: from mx.example.org\r\n\tby lists.example.com for <ops@example.com>;"
       b" Mon, 3 Jan 2005\r\nFrom: Alice <alice@example.org>\r\nTo: ops@example.com\r\n"
       b"Cc: =?utf-8?q?J=C3=B6rg?= <j\xc3\xb6rg@example.de>, \xff <x@example.org>\r\n"
       b"Message-ID: <m1@example.org>\r\nIn-Reply-To: <m0@example.org>\r\n"
       b"References: <m-1@example.org>\r\n <m0@example.org>\r\nSubject: Pumps\r\n\r\n"
       b"alice@example.org wrote:\r\n")


def test_headers_have_their_addresses_concealed_but_not_their_message_ids() -> None:
    concealed = conceal_headers(RAW, OBFUSCATE)
    assert concealed == (
        b"Received: from mx.example.org\r\n\tby lists.example.com for <ops at example.com>;"
        b" Mon, 3 Jan 2005\r\nFrom: Alice <alice at example.org>\r\nTo: ops at example.com\r\n"
        b"Cc: =?utf-8?q?J=C3=B6rg?= <j\xc3\xb6rg at example.de>, \xff <x at example.org>\r\n"
        b"Message-ID: <m1@example.org>\r\nIn-Reply-To: <m0@example.org>\r\n"
        b"References: <m-1@example.org>\r\n <m0@example.org>\r\nSubject: Pumps\r\n\r\n"
        b"alice@example.org wrote:\r\n")
    assert conceal_headers(RAW, SHOW) == RAW
    assert b"<[address hidden]>\r\nTo: [address hidden]\r\n" in conceal_headers(RAW, HIDE)


@pytest.mark.parametrize("raw", [b"", b"no headers at all", b"\r\n\r\nbody a@example.org",
                                 b"garbage a@example.org\r\nFrom: b@example.org\r\n\r\n"])
def test_odd_messages_keep_no_address_in_their_headers(raw: bytes) -> None:
    concealed = conceal_headers(raw, OBFUSCATE)
    assert b"@example.org" not in header_block(concealed)
    assert concealed[len(header_block(concealed)):] == raw[len(header_block(raw)):]
