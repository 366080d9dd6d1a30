# SPDX-License-Identifier: Apache-2.0
import base64
from email.message import Message

import pytest

from listserv.core.approval import (
    Approval,
    approved_post,
    check_approval,
    find_password,
    is_locked,
    strip_approval,
)
from listserv.core.message import parse_post
from listserv.core.passwords import hash_password

PASSWORD = "correct horse"
HASH = hash_password(PASSWORD, b"0" * 16)  # scrypt takes about 50 ms: once per module
HEAD = b"From: Alice <alice@example.org>\r\nTo: ops@example.com\r\nSubject: Valves\r\n"
QP = b"Content-Transfer-Encoding: quoted-printable\r\n"
B64 = b"Content-Transfer-Encoding: base64\r\n"
UTF8 = b"Content-Type: text/plain; charset=utf-8\r\n"


def message(raw: bytes) -> Message:
    return parse_post(raw).message


def plain(body: bytes, headers: bytes = b"") -> bytes:
    return HEAD + headers + b"\r\n" + body


def b64(data: bytes) -> bytes:
    return base64.encodebytes(data).replace(b"\n", b"\r\n")


def alternative(text: bytes, html: bytes, html_headers: bytes = b"") -> bytes:
    return (HEAD + b"MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=ALT\r\n"
            b"\r\nThis is a MIME message.\r\n--ALT\r\n" + UTF8 + b"\r\n" + text +
            b"\r\n--ALT\r\nContent-Type: text/html; charset=utf-8\r\n" + html_headers +
            b"\r\n" + html + b"\r\n--ALT--\r\nepilogue\r\n")


def texts(raw: bytes) -> list[str]:
    """The decoded text of every leaf part, as a reader sees it."""
    found = []
    for part in message(raw).walk():
        data = part.get_payload(decode=True)
        if isinstance(data, bytes):
            found.append(data.decode(part.get_content_charset() or "latin-1", "replace"))
    return found


@pytest.mark.parametrize(("headers", "expected"), [
    (b"Approved: correct horse\r\n", PASSWORD),
    (b"Approve: correct horse\r\n", PASSWORD),
    (b"X-Approved: correct horse\r\n", PASSWORD),
    (b"x-APPROVE:   correct horse  \r\n", PASSWORD),
    (b"Approved:\r\n correct horse\r\n", PASSWORD),  # folded
    (b"Approved: =?utf-8?q?correct_horse?=\r\n", PASSWORD),  # RFC 2047
    (b"Approved: p\xc3\xa4ss\r\n", "p\xe4ss"),  # 8-bit UTF-8 (RFC 6532)
    (b"Approved: \r\nX-Approved: correct horse\r\n", PASSWORD),  # the first non-empty one
    (b"Approved:\r\n", None),
    (b"Approved-By: correct horse\r\n", None),
])
def test_find_password_reads_the_approval_headers(headers: bytes, expected: str | None) -> None:
    assert find_password(message(plain(b"Hello\r\n", headers))) == expected


def test_a_header_password_comes_before_the_body_line() -> None:
    raw = plain(b"Approved: in the body\r\n", b"Approved: in the header\r\n")
    assert find_password(message(raw)) == "in the header"


@pytest.mark.parametrize(("headers", "body", "expected"), [
    (b"", b"Approved: correct horse\r\n\r\nHello\r\n", PASSWORD),
    (b"", b"Approved: correct horse\n\nHello\n", PASSWORD),
    (b"", b"\r\n \t\r\nApproved: correct horse\r\nHello\r\n", PASSWORD),  # after blank lines
    (b"", b"approve :correct horse  \r\n", PASSWORD),
    (b"", b"X-APPROVED\t:\tcorrect horse", PASSWORD),  # without a line end
    (QP, b"Approved: correct=20hor=\r\nse\r\n\r\nHello\r\n", PASSWORD),
    (B64, b64(b"Approved: correct horse\r\n\r\nHello\r\n"), PASSWORD),
    (UTF8, b"\xef\xbb\xbfApproved: correct horse\r\n", PASSWORD),  # a byte order mark
    (b"Content-Type: text/plain; charset=iso-8859-1\r\n", b"Approved: p\xe4ss\r\n", "p\xe4ss"),
    (b"Content-Type: text/plain; charset=x-unknown\r\n", b"Approved: correct horse\r\n",
     PASSWORD),
    (b"", b"Hello\r\nApproved: correct horse\r\n", None),  # only the first line counts
    (b"", b"Approved:\r\nHello\r\n", None),
    (b"", b"Approvedx: correct horse\r\n", None),
    (b"", b"Approved correct horse\r\n", None),
    (b"", b"Approved: p\xffss\r\n", None),  # undecodable in its charset
    (B64, b"QXBwcm92ZWQ6IGNvcnJlY3QgaG9yc2U=!!!\r\n", None),  # broken base64
    (b"", b"", None),
])
def test_find_password_reads_the_first_body_line(headers: bytes, body: bytes,
                                                 expected: str | None) -> None:
    assert find_password(message(plain(body, headers))) == expected


FORWARDED = (HEAD + b"Content-Type: multipart/mixed; boundary=MIX\r\n\r\n--MIX\r\n\r\nSee below."
             b"\r\n--MIX\r\nContent-Type: message/rfc822\r\n\r\nSubject: old\r\n\r\n"
             b"Approved: correct horse\r\n--MIX--\r\n")
ATTACHED = (HEAD + b"Content-Type: multipart/mixed; boundary=MIX\r\n\r\n--MIX\r\n\r\nSee the file."
            b"\r\n--MIX\r\nContent-Disposition: attachment; filename=a.txt\r\n\r\n"
            b"Approved: correct horse\r\n--MIX--\r\n")
HTML_ONLY = plain(b"<html><head><title>Approved: no</title><style>p {}</style></head><body>"
                  b"<p>Approved:&nbsp;correct horse</p><p>Hello</p></body></html>\r\n",
                  b"Content-Type: text/html; charset=utf-8\r\n")


@pytest.mark.parametrize(("raw", "expected"), [
    (alternative(b"Approved: correct horse\r\nHello", b"<p>Hello</p>"), PASSWORD),
    (alternative(b"Hello", b"<p>Approved: correct horse</p>"), None),  # the text part decides
    (HTML_ONLY, PASSWORD),
    (FORWARDED, None),  # someone else's message
    (ATTACHED, None),
])
def test_find_password_reads_the_text_body_only(raw: bytes, expected: str | None) -> None:
    assert find_password(message(raw)) == expected


R, W, N = Approval.RIGHT, Approval.WRONG, Approval.NONE


@pytest.mark.parametrize(("raw", "password_hash", "expected"), [
    (plain(b"Hello\r\n", b"Approved: correct horse\r\n"), HASH, R),
    (plain(b"Approved: correct horse\r\n\r\nHello\r\n"), HASH, R),
    (plain(b"Hello\r\n", b"Approved: Correct Horse\r\n"), HASH, W),
    (plain(b"Hello\r\nApproved: correct horse\r\n"), HASH, N),
    (plain(b"Hello\r\n"), HASH, N),
    (plain(b"Hello\r\n", b"Approved: correct horse\r\n"), "", N),
    (plain(b"Hello\r\n", b"Approved: correct horse\r\n"), "scrypt$x$8$1$zz$00", W),
])
def test_check_approval_checks_the_password_against_the_hash(raw: bytes, password_hash: str,
                                                             expected: Approval) -> None:
    assert check_approval(message(raw), password_hash) is expected


@pytest.mark.parametrize(("before", "after"), [
    (plain(b"Approved: correct horse\r\n\r\nHello\r\n\r\nBye\r\n"), plain(b"Hello\r\n\r\nBye\r\n")),
    (b"From: a@example.org\n\nApproved: correct horse\n\nHello\n",
     b"From: a@example.org\n\nHello\n"),
    (plain(b"\r\nApproved: correct horse\r\nHello\r\n"), plain(b"\r\nHello\r\n")),
    (plain(b"Approved: correct horse\r\n\r\n\r\nHello\r\n"), plain(b"\r\nHello\r\n")),
    (plain(b"Approved: correct horse"), plain(b"")),
    (plain(b"Approved: correct=20hor=\r\nse\r\n\r\nCaf=C3=A9 =\r\nopens\r\n", UTF8 + QP),
     plain(b"Caf=C3=A9 opens\r\n", UTF8 + QP)),  # re-encoded quoted-printable
    (plain(b64(b"Approved: correct horse\r\n\r\nHello\r\n"), B64), plain(b"SGVsbG8NCg==\r\n", B64)),
    (plain(b"Approved: correct horse\r\n\x00Hello\r\n"), plain(b"Hello\r\n")),  # NULs dropped
])
def test_strip_approval_removes_the_line_and_keeps_the_rest(before: bytes, after: bytes) -> None:
    assert strip_approval(before) == after


@pytest.mark.parametrize(("line", "html", "stripped"), [
    (b"Approved: correct horse", b"<p>Approved: correct horse</p>\r\n<p>Hello</p>",
     b"\r\n<p>Hello</p>"),
    (b"Approved: correct horse", b"<div>Approved: correct horse<br></div><div>Hello</div>",
     b"<div>Hello</div>"),
    (b"Approved: correct horse", b"<html><body>Approved: correct horse<br>\r\nHello</body></html>",
     b"<html><body>\r\nHello</body></html>"),
    (b"Approved: correct horse",  # as Gmail writes it
     b'<div dir="ltr">Approved:&nbsp;correct&nbsp;horse<div><br></div><div>Hello</div></div>',
     b'<div dir="ltr"><div>Hello</div></div>'),
    (b"APPROVE : correct horse", b"<P>APPROVE : correct horse</P><p>&nbsp;</p><p>Hello</p>",
     b"<p>Hello</p>"),
    (b"Approved: <p&ss>", b"<p>Approved: &lt;p&amp;ss&#62;<br>Hello</p>", b"<p>Hello</p>"),
    (b"Approved: caf\xc3\xa9", b"<p>Approved: caf&eacute;</p><p>Hello</p>", b"<p>Hello</p>"),
    (b"Approved: correct horse", b"<p>Hello</p>", b"<p>Hello</p>"),  # not repeated there
    (b"Approved: correct horse", b"<p>Approved: correct horses</p>",
     b"<p>Approved: correct horses</p>"),
])
def test_strip_approval_removes_the_line_from_the_html_alternative(
        line: bytes, html: bytes, stripped: bytes) -> None:
    after = strip_approval(alternative(line + b"\r\n\r\nHello", html))
    assert after == alternative(b"Hello", stripped)
    assert texts(after) == ["Hello", stripped.decode()]


@pytest.mark.parametrize(("headers", "html"), [
    (QP, b'<div dir=3D"ltr">Approved: correct horse<br><br>Gr=C3=BC=C3=9Fe</div>'),
    (B64, b64('<div dir="ltr">Approved: correct horse<br><br>Gr\xfc\xdfe</div>'.encode()).strip()),
])
def test_strip_approval_reencodes_an_encoded_html_part(headers: bytes, html: bytes) -> None:
    after = strip_approval(alternative(b"Approved: correct horse\r\nHello", html, headers))
    assert texts(after) == ["Hello", '<div dir="ltr">Gr\xfc\xdfe</div>']
    assert b"\r\n\r\n--ALT--" not in after  # no blank line added before the delimiter


ATTACHMENT = b64(bytes(range(256)) * 4)
MIXED = (HEAD + b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"MIX\"\r\n\r\n"
         b"--MIX\r\nContent-Type: multipart/alternative; boundary=ALT\r\n\r\n"
         b"--ALT\r\n" + UTF8 + b"\r\nApproved: correct horse\r\n\r\nSee the valve.\r\n"
         b"--ALT\r\nContent-Type: multipart/related; boundary=REL\r\n\r\n"
         b"--REL\r\nContent-Type: text/html\r\n\r\n<p>Approved: correct horse</p><p>See the"
         b" valve.</p>\r\n--REL\r\nContent-Type: image/png\r\n" + B64 + b"\r\n" + ATTACHMENT +
         b"--REL--\r\n--ALT--\r\n"
         b"--MIX\r\nContent-Type: text/html\r\nContent-Disposition: attachment\r\n\r\n"
         b"<p>Approved: correct horse</p>\r\n"
         b"--MIX\r\nContent-Type: application/octet-stream\r\n" + B64 + b"\r\n" + ATTACHMENT +
         b"--MIX--\r\n")


@pytest.mark.parametrize("newline", [b"\r\n", b"\n"])
def test_strip_approval_leaves_attachments_and_other_parts_as_they_came(newline: bytes) -> None:
    before = MIXED.replace(b"\r\n", newline)
    approval = b"Approved: correct horse" + newline
    expected = before.replace(approval + newline, b"", 1).replace(b"<p>Approved: correct horse</p>",
                                                                  b"", 1)
    after = strip_approval(before)
    assert after == expected
    assert after.count(ATTACHMENT.replace(b"\r\n", newline)) == 2
    assert after.count(b"<p>Approved: correct horse</p>" + newline + b"--MIX") == 1  # attached


HUGE = b"x" * 998 + b"\r\n"


@pytest.mark.parametrize(("before", "after"), [
    (plain(b"Approved: correct horse\r\n\r\n" + HUGE * 10_000), plain(HUGE * 10_000)),
    (HEAD + b"Content-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\n\r\n"  # never closed
     b"Approved: correct horse\r\nHello\r\n", HEAD +
     b"Content-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\n\r\nHello\r\n"),
    (plain(b"Approved: correct horse\r\nHello", b"Content-Type: text/plain; charset*\r\n"),
     plain(b"Hello", b"Content-Type: text/plain; charset*\r\n")),
    (plain(b"<![if x]>Approved: correct horse", b"Content-Type: text/html\r\n"),
     plain(b"<![if x]>", b"Content-Type: text/html\r\n")),
    (HTML_ONLY, plain(b"<html><head><title>Approved: no</title><style>p {}</style></head>"
                      b"<body><p>Hello</p></body></html>\r\n",
                      b"Content-Type: text/html; charset=utf-8\r\n")),
])
def test_strip_approval_handles_large_malformed_and_html_only_mail(before: bytes,
                                                                     after: bytes) -> None:
    assert strip_approval(before) == after


MALFORMED = [
    HEAD,  # no body
    b"",
    b"\x00\xff\xfe garbage",
    HEAD + b"Content-Type: multipart/mixed\r\n\r\n--B\r\n\r\nApproved: correct horse\r\n--B--",
    HEAD + b"Content-Type: multipart/mixed; boundary=B\r\n\r\nApproved: correct horse\r\n",
    plain(b"QXBwcm92ZWQ6IGNvcnJlY3QgaG9yc2U=!!!\r\n", B64),
    plain(b"Approved: p\xffss\r\n"),
    plain(b"<p>Approved:<b>correct horse</b></p>", b"Content-Type: text/html\r\n"),
    plain(b"<p>" * 300_000, b"Content-Type: text/html\r\n"),
]


@pytest.mark.parametrize("raw", MALFORMED)
def test_find_password_finds_none_in_malformed_or_unreadable_mail(raw: bytes) -> None:
    assert find_password(message(raw)) is None


@pytest.mark.parametrize("raw", [
    plain(b"Hello\r\n\r\nApproved: correct horse\r\n"),  # a later line is only text
    plain(b"Hello\r\n", b"Approved: correct horse\r\n"),  # decoration removes the header
    plain(b"Approved:\r\nHello\r\n"),
    FORWARDED,
    ATTACHED,
    *MALFORMED,
])
def test_strip_approval_returns_mail_without_an_approval_line_unchanged(raw: bytes) -> None:
    assert strip_approval(raw) is raw


def test_an_approved_post_is_given_without_its_password() -> None:
    raw = (b"From: a@example.org\r\nSubject: x\r\n\r\nApproved: correct horse\r\n\r\n"
           b"Dear all\r\n")
    assert check_approval(parse_post(raw).message, HASH) is Approval.RIGHT
    approved = approved_post(raw)
    assert approved is not None and b"correct horse" not in approved
    wrong = raw.replace(b"correct", b"wrong")
    assert check_approval(parse_post(wrong).message, HASH) is Approval.WRONG
    assert check_approval(parse_post(wrong).message, "") is Approval.NONE


def test_the_password_is_ignored_from_the_tenth_wrong_one_within_the_hour() -> None:
    assert [is_locked(failures) for failures in (0, 9, 10, 11)] == [False, False, True, True]
