# SPDX-License-Identifier: Apache-2.0
"""Which parts of a stored message a page shows, and which it offers as attachments."""

from email.message import EmailMessage

import pytest

from listserv.core.message import parse_post
from listserv.core.reading import (
    Attachment,
    Shown,
    content,
    content_disposition,
    download_type,
    parts,
    read,
)


def message(build: str) -> EmailMessage:
    """A message with a text body, HTML alternative and attachments as `build` says."""
    message = EmailMessage()
    message["From"] = "alice@example.org"
    message["Subject"] = "Parts"
    if "text" in build:
        message.set_content("Plain words.\n")
    if "html" in build:
        if "text" in build:
            message.add_alternative("<p>Rich words.</p>", subtype="html")
        else:
            message.set_content("<p>Rich words.</p>", subtype="html")
    if "pdf" in build:
        message.add_attachment(b"%PDF-1.4 x", maintype="application", subtype="pdf",
                               filename="report.pdf")
    if "image" in build:
        message.add_attachment(b"\x89PNG....", maintype="image", subtype="png",
                               filename="../../etc/pump\x00.png")
    return message


@pytest.mark.parametrize(("build", "shown", "attachments"), [
    ("text", [Shown("Plain words.\n")], []),
    ("text html", [Shown("Plain words.\n")], []),
    ("html", [Shown("<p>Rich words.</p>\n", html=True)], []),
    ("text html pdf", [Shown("Plain words.\n")],
     [Attachment(3, "report.pdf", "application/pdf", 10)]),
    ("html pdf image", [Shown("<p>Rich words.</p>\n", html=True)],
     [Attachment(2, "report.pdf", "application/pdf", 10),
      Attachment(3, "_.._etc_pump_.png", "image/png", 8)]),
])
def test_plain_text_is_shown_html_only_without_it(build: str, shown: list[Shown],
                                                  attachments: list[Attachment]) -> None:
    reading = read(message(build))
    assert list(reading.shown) == shown
    assert list(reading.attachments) == attachments


def test_an_attachment_is_numbered_by_its_place_among_the_parts() -> None:
    built = message("text html pdf image")
    [pdf, png] = read(built).attachments
    assert content(parts(built)[pdf.number - 1]) == b"%PDF-1.4 x"
    assert content(parts(built)[png.number - 1]) == b"\x89PNG...."


def test_inline_text_parts_are_shown_in_turn_and_an_attached_message_is_one_part() -> None:
    raw = (b"From: a@example.org\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: multipart/mixed; boundary=b1\r\n\r\n"
           b"--b1\r\nContent-Type: text/plain; charset=iso-8859-1\r\n"
           b"Content-Transfer-Encoding: quoted-printable\r\n\r\nGr=FC=DFe\r\n"
           b"--b1\r\nContent-Type: message/rfc822\r\n\r\n"
           b"From: b@example.org\r\nSubject: inner\r\n\r\nInner text.\r\n"
           b"--b1\r\nContent-Type: text/plain\r\n\r\n-- \r\nThe list's footer\r\n"
           b"--b1\r\nContent-Type: text/plain; name=notes.txt\r\n"
           b"Content-Disposition: attachment; filename=notes.txt\r\n\r\nnotes\r\n--b1--\r\n")
    reading = read(parse_post(raw).message)
    assert [shown.text for shown in reading.shown] == ["Grüße", "-- \nThe list's footer"]
    assert [(a.number, a.filename, a.content_type) for a in reading.attachments] == [
        (2, "part-2.eml", "message/rfc822"), (4, "notes.txt", "text/plain")]
    assert content(parts(parse_post(raw).message)[1]).startswith(b"From: b@example.org")


@pytest.mark.parametrize("raw", [
    b"",
    b"Content-Type: multipart/mixed\r\n\r\nno boundary at all\r\n",
    b"Content-Type: text/plain; charset=unknown-8\r\n\r\n\xff\xfe text\r\n",
    b"Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!not base64\r\n",
    b"Content-Type: multipart/alternative; boundary=x\r\n\r\n--x--\r\n",
    b"Content-Type: application/pdf; name*=bogus''%%%\r\n\r\n%PDF\r\n",
])
def test_malformed_messages_are_read_without_raising(raw: bytes) -> None:
    reading = read(parse_post(raw).message)
    for attachment in reading.attachments:
        assert attachment.filename


@pytest.mark.parametrize(("content_type", "served"), [
    ("image/png", "image/png"), ("image/jpeg", "image/jpeg"),
    ("image/svg+xml", "application/octet-stream"), ("text/html", "application/octet-stream"),
    ("application/pdf", "application/octet-stream")])
def test_only_safe_images_keep_their_type(content_type: str, served: str) -> None:
    assert download_type(content_type) == served


def test_content_disposition_names_the_file_in_ascii_and_utf8() -> None:
    assert content_disposition("Prüfbericht 7.pdf") == (
        "attachment; filename=\"Pr_fbericht 7.pdf\"; "
        "filename*=UTF-8''Pr%C3%BCfbericht%207.pdf")
