# SPDX-License-Identifier: Apache-2.0
"""Content filtering on posts as real mail clients write them."""

from email.message import EmailMessage
from email.policy import SMTP

import pytest

from listserv.core.filtering import ContentFilter, FilterSigned, filter_content
from listserv.core.message import parse_post

ON = ContentFilter(enabled=True)
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


def to_text(html: str) -> str:
    return "TEXT:" + html.replace("<p>", "").replace("</p>", "")


def parsed(message: EmailMessage) -> EmailMessage:
    """The message as listserv reads it from the wire."""
    return parse_post(message.as_bytes(policy=SMTP)).message


def base(subject: str = "Valves") -> EmailMessage:
    message = EmailMessage()
    message["From"] = "alice@example.org"
    message["To"] = "ops@example.com"
    message["Subject"] = subject
    message["Message-ID"] = "<1@example.org>"
    return message


def outlook() -> EmailMessage:
    """HTML with an inline image, and its plain alternative (multipart/related inside)."""
    message = base()
    message.set_content("Plain text of the post.\n")
    message.add_alternative("<p>HTML of the post <img src='cid:logo'></p>", subtype="html")
    html = message.get_payload()[1]
    html.add_related(PNG, maintype="image", subtype="png", cid="<logo>", filename="logo.png")
    return parsed(message)


def apple_mail() -> EmailMessage:
    message = base()
    message.set_content("Plain.\n")
    message.add_alternative("<p>Rich.</p>", subtype="html")
    return parsed(message)


def with_exe() -> EmailMessage:
    message = base()
    message.set_content("See the tool attached.\n")
    message.add_attachment(b"MZ\x90\x00", maintype="application", subtype="x-msdownload",
                           filename="tool.exe")
    message.add_attachment(b"%PDF-1.4", maintype="application", subtype="pdf",
                           filename="manual.pdf")
    return parsed(message)


def html_only() -> EmailMessage:
    message = base()
    message.set_content("<p>Only HTML.</p>", subtype="html")
    return parsed(message)


def signed() -> EmailMessage:
    message = base()
    content = EmailMessage()
    content.set_content("Signed text.\n")
    signature = EmailMessage()
    signature.set_content(b"-----BEGIN PGP SIGNATURE-----\n...\n", maintype="application",
                          subtype="pgp-signature")
    message.make_mixed()
    message.set_payload([content, signature])
    message.replace_header("Content-Type", 'multipart/signed; protocol="application/pgp-'
                           'signature"; micalg=pgp-sha256; boundary="sig"')
    return parsed(message)


def invitation() -> EmailMessage:
    message = base("Invitation: review")
    message.set_content("You are invited.\n")
    message.add_alternative("BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nEND:VCALENDAR\r\n",
                            subtype="calendar", params={"method": "REQUEST"})
    return parsed(message)


def types(message: EmailMessage | None) -> list[str]:
    assert message is not None
    return [part.get_content_type() for part in message.walk()]


def test_off_leaves_every_post_alone() -> None:
    post = with_exe()
    result = filter_content(post, ContentFilter(filter_types=("application",)), to_text)
    assert result.message is post and not result.changed


def test_an_exe_goes_by_extension_and_the_rest_stays_multipart() -> None:
    result = filter_content(with_exe(), ContentFilter(True, filter_extensions=("exe",)), to_text)
    assert types(result.message) == ["multipart/mixed", "text/plain", "application/pdf"]
    assert result.removed == ["application/x-msdownload (tool.exe)"]
    assert result.message is not None and result.message["Subject"] == "Valves"


def test_a_multipart_left_with_one_part_becomes_that_part() -> None:
    result = filter_content(with_exe(), ContentFilter(True, filter_types=("application",)),
                            to_text)
    assert types(result.message) == ["text/plain"]
    assert result.message is not None
    assert result.message["Message-ID"] == "<1@example.org>"
    assert result.message.get_content().strip() == "See the tool attached."


def test_alternatives_collapse_to_plain_text_dropping_html_and_its_inline_images() -> None:
    result = filter_content(outlook(), ON, to_text)
    assert types(result.message) == ["text/plain"]
    assert result.removed == ["multipart/related, an alternative"]


@pytest.mark.parametrize("post", [apple_mail, invitation], ids=["apple-mail", "invitation"])
def test_alternatives_kept_whole_when_the_list_does_not_collapse_them(post: object) -> None:
    message = post()  # type: ignore[operator]
    result = filter_content(message, ContentFilter(True, collapse_alternatives=False), to_text)
    assert result.message is message


def test_an_html_only_post_becomes_plain_text() -> None:
    result = filter_content(html_only(), ContentFilter(True, convert_html_to_plaintext=True),
                            to_text)
    assert types(result.message) == ["text/plain"]
    assert result.message is not None
    assert result.message.get_content().strip() == "TEXT:Only HTML."


def test_pass_types_keep_only_what_they_name() -> None:
    result = filter_content(with_exe(), ContentFilter(True, pass_types=("text/plain",)), to_text)
    assert types(result.message) == ["text/plain"]


def test_nothing_left_is_none() -> None:
    result = filter_content(html_only(), ContentFilter(True, filter_types=("text",)), to_text)
    assert result.message is None and result.changed


def test_a_signed_post_is_kept_whole_or_its_signature_removed_explicitly() -> None:
    post = signed()
    kept = filter_content(post, ContentFilter(True, filter_types=("application",)), to_text)
    assert kept.message is post
    stripped = filter_content(post, ContentFilter(True, signed=FilterSigned.STRIP), to_text)
    assert types(stripped.message) == ["text/plain"]
    assert stripped.removed == ["the signature (multipart/signed)"]


def forwarded() -> EmailMessage:
    message = base("Fwd: Valves")
    message.set_content("See below.\n")
    inner = base("Old thread")
    inner.set_content("Old words.\n")
    inner.add_attachment(b"MZ", maintype="application", subtype="x-msdownload",
                         filename="old.exe")
    message.add_attachment(inner)
    return parsed(message)


def test_an_attached_message_is_one_part_kept_whole_or_filtered_by_its_type() -> None:
    post = forwarded()
    kept = filter_content(post, ContentFilter(True, filter_extensions=("exe",)), to_text)
    assert kept.message is post
    gone = filter_content(post, ContentFilter(True, filter_types=("message/rfc822",)), to_text)
    assert types(gone.message) == ["text/plain"]
    assert gone.removed == ["message/rfc822"]


def test_pass_extensions_keep_only_named_files_with_them_and_every_unnamed_part() -> None:
    result = filter_content(with_exe(), ContentFilter(True, pass_extensions=("pdf",)), to_text)
    assert types(result.message) == ["multipart/mixed", "text/plain", "application/pdf"]
    assert result.removed == ["application/x-msdownload (tool.exe)"]


def test_an_html_part_among_others_is_converted_in_its_place() -> None:
    message = base()
    message.set_content("<p>Rich.</p>", subtype="html")
    message.add_attachment(b"%PDF", maintype="application", subtype="pdf", filename="a.pdf")
    result = filter_content(parsed(message),
                            ContentFilter(True, convert_html_to_plaintext=True), to_text)
    assert types(result.message) == ["multipart/mixed", "text/plain", "application/pdf"]


def test_a_related_multipart_names_its_new_root_and_keeps_the_authors_headers() -> None:
    message = base()
    message.set_content("<p>See <img src='cid:logo'></p>", subtype="html")
    message.add_related(PNG, maintype="image", subtype="png", cid="<logo>", filename="logo.png")
    message.replace_header("Content-Type", message["Content-Type"] + '; type="text/html"')
    message["Date"] = "Tue, 3 Dec 2024 09:14:27 +0000"
    message.add_attachment(b"MZ", maintype="application", subtype="x-msdownload",
                           filename="a.exe")
    rules = ContentFilter(True, filter_extensions=("exe",), convert_html_to_plaintext=True)
    # As written by the client; the email package would write "03 Dec".
    raw = message.as_bytes(policy=SMTP).replace(b"Tue, 03 Dec", b"Tue, 3 Dec")
    result = filter_content(parse_post(raw).message, rules, to_text)
    assert types(result.message) == ["multipart/related", "text/plain", "image/png"]
    assert result.message is not None
    assert result.message.get_param("type") == "text/plain"
    assert b"\r\nDate: Tue, 3 Dec 2024 09:14:27 +0000\r\n" in result.message.as_bytes(policy=SMTP)
