# SPDX-License-Identifier: Apache-2.0
import re

import pytest

from listserv.core.message import derived_message_id, message_id, parse_post


@pytest.mark.parametrize(("raw", "expected"), [
    (b"Message-ID: <a@b>\r\nSubject: x\r\n\r\nbody", "<a@b>"),
    (b"Message-Id:\r\n <folded@b>\n\nbody", "<folded@b>"),
    (b"Subject: none\r\n\r\nMessage-ID: <in-body@b>", ""),
    (b"\x00\xff garbage without headers", ""),
    (b"", ""),
])
def test_message_id_is_read_without_trusting_the_message(raw: bytes, expected: str) -> None:
    assert message_id(raw) == expected


@pytest.mark.parametrize("raw", [
    b"From: a@example.org\r\nContent-Type: text/plain; charset*\r\n\r\nx",
    b"From: =?utf-8?q?broken\r\nSubject: \xff\xfe\r\n\r\n\x00",
    b"",
])
def test_parse_post_never_raises(raw: bytes) -> None:
    post = parse_post(raw, "env@example.org", "ops@example.com")
    assert post.raw == raw


def test_author_comes_from_from_only() -> None:
    post = parse_post(b"To: ops@example.com\r\n\r\nbody", "member@example.org")
    assert post.author == ""
    post = parse_post(b"From: Alice <Alice@Example.ORG>\r\n\r\nbody", "other@example.org")
    assert (post.author, post.author_name) == ("alice@example.org", "Alice")


def test_mime_nested_deeper_than_the_parser_recurses_is_read_as_headers_and_a_body() -> None:
    depth = 1200
    raw = b"From: Alice <alice@example.org>\r\nSubject: deep\r\n" + b"".join(
        b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (n, n)
        for n in range(depth)) + b"Content-Type: text/plain\r\n\r\nhi\r\n" + b"".join(
        b"--b%d--\r\n" % n for n in reversed(range(depth)))
    post = parse_post(raw)
    assert (post.author, post.subject) == ("alice@example.org", "deep")


RECEIVED = b"Received: from a by b; Sat, 28 Nov 2026 02:00:00 +0000\r\n"


def test_a_derived_message_id_is_the_same_for_the_same_message() -> None:
    raw = b"From: alice@example.org\r\nSubject: Valves\r\n\r\nWhich seals?\r\n"
    mid = derived_message_id(raw, "lists.example.com")
    assert re.fullmatch(r"<[0-9a-f]{32}@lists\.example\.com>", mid)
    # Relayed again (another Received, bare LFs), it is still the same message.
    again = (RECEIVED + b"Received: from c\r\n by d\r\nAuthentication-Results: d; spf=pass\r\n"
             + raw).replace(b"\r\n", b"\n")
    assert derived_message_id(again, "lists.example.com") == mid
    for other in (raw.replace(b"Valves", b"Pumps"), raw + b"More.\r\n",
                  b"X-Received-By: someone\r\n" + raw, b"Received-Note: x\r\n" + raw):
        assert derived_message_id(other, "lists.example.com") != mid
