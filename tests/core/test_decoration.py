# SPDX-License-Identifier: Apache-2.0
import dataclasses
import random
import re
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import EmailMessage, Message
from email.policy import default

import pytest

from listserv.core.decoration import decorate, list_headers, prefixed_subject, render
from listserv.core.footer import SEPARATOR, footer_text, remove_footer
from listserv.core.message import Post, header_text, parse_post
from listserv.core.policy import ArchiveVisibility, ListPolicy, ReplyTo
from listserv.core.urls import message_path

NOW = datetime(2024, 3, 1, 12, 30, tzinfo=UTC)
NEW_ID = "<generated.1@lists.example.com>"
LIST = ListPolicy(address="ops@example.com", display_name="Ops", list_id="ops.example.com",
                  subject_prefix="[ops]", footer="{display_name} list: {list_address}",
                  archive_url="https://lists.example.com/ops")
PLAIN = (b"From: Alice <alice@example.org>\r\nTo: ops@example.com\r\nSubject: Valves\r\n"
         b"Message-ID: <valves.1@example.org>\r\nDate: Thu, 29 Feb 2024 10:00:00 +0000\r\n"
         b"\r\nThe valves leak.\r\n")


def post(raw: bytes) -> Post:
    return parse_post(raw, "alice@example.org", "ops@example.com")


def run(raw: bytes, policy: ListPolicy = LIST) -> EmailMessage:
    return decorate(post(raw), policy, message_id=NEW_ID, now=NOW)


def reparse(message: Message) -> EmailMessage:
    parsed = message_from_bytes(render(message), _class=EmailMessage, policy=default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def head(raw: bytes) -> bytes:
    return raw.partition(b"\r\n\r\n")[0]


def body(raw: bytes) -> bytes:
    return raw.replace(b"\r\n", b"\n").partition(b"\n\n")[2]


def texts(message: Message) -> list[str]:
    """The decoded text of every leaf part, as a reader would see it."""
    found = []
    for part in message.walk():
        if not part.is_multipart():
            data = part.get_payload(decode=True)
            if isinstance(data, bytes):
                try:
                    text = data.decode(part.get_content_charset() or "utf-8", "replace")
                except LookupError:
                    text = data.decode("latin-1")
                found.append(text.replace("\r\n", "\n"))
    return found


def with_headers(*lines: str, payload: bytes = b"Hello.\r\n") -> bytes:
    return ("\r\n".join(("From: alice@example.org", *lines)) + "\r\n\r\n").encode() + payload


# -- subject prefix ---------------------------------------------------------------------------

@pytest.mark.parametrize(("subject", "expected"), [
    ("Valves", "[ops] Valves"),
    ("Re: Valves", "[ops] Re: Valves"),
    ("Re: [ops] Valves", "Re: [ops] Valves"),
    ("[ops] Re: x", "[ops] Re: x"),
    ("RE: AW: Fwd: [ops] x", "RE: AW: Fwd: [ops] x"),
    ("Aw: WG: Sv: Antw: Fw: [ops] x", "Aw: WG: Sv: Antw: Fw: [ops] x"),
    ("Re[2]: [ops] x", "Re[2]: [ops] x"),
    ("re:[OPS] x", "re:[OPS] x"),
    ("Valves [ops]", "[ops] Valves [ops]"),
    ("[other] x", "[ops] [other] x"),
    ("", "[ops] (no subject)"),
    ("   ", "[ops] (no subject)"),
])
def test_prefix_is_added_once(subject: str, expected: str) -> None:
    assert prefixed_subject(subject, "[ops]") == expected


@pytest.mark.parametrize("subject", ["Valves", "", "Re: x"])
def test_empty_prefix_changes_nothing(subject: str) -> None:
    assert prefixed_subject(subject, "") == subject


@pytest.mark.parametrize(("header", "prefix", "expected"), [
    ("Subject: Valves", "[ops]", "[ops] Valves"),
    ("Subject: =?utf-8?q?Re=3A_=5Bops=5D_Caf=C3=A9?=", "[ops]", "Re: [ops] Café"),
    ("Subject: =?iso-8859-1?q?Caf=E9?=", "[ops]", "[ops] Café"),
    ("Subject: =?utf-8?b?UmU6IFvDlmxdIEJvaHJ1bmc=?=", "[Öl]", "Re: [Öl] Bohrung"),
    ("Subject: Bohrung", "[Öl]", "[Öl] Bohrung"),
    ("X-No-Subject: 1", "[ops]", "[ops] (no subject)"),
    ("Subject: Valves", "", "Valves"),
    ("Subject: =?bogus-charset?q?x?=", "[ops]", "[ops] x"),
])
def test_subject_round_trips_through_encoded_words(header: str, prefix: str,
                                                   expected: str) -> None:
    rendered = render(run(with_headers(header), dataclasses.replace(LIST, subject_prefix=prefix)))
    assert head(rendered).isascii()  # non-ASCII is sent as RFC 2047 encoded words
    parsed = message_from_bytes(rendered, policy=default)
    assert str(parsed["Subject"]) == expected
    assert len(parsed.get_all("Subject") or []) == 1


def test_unchanged_subject_keeps_its_original_encoding() -> None:
    raw = with_headers("Subject: =?iso-8859-1?q?Re=3A_=5Bops=5D_Caf=E9?=")
    assert b"Subject: =?iso-8859-1?q?Re=3A_=5Bops=5D_Caf=E9?=\r\n" in render(run(raw))


def test_eight_bit_subject_is_reencoded_when_prefixed() -> None:
    raw = b"From: alice@example.org\r\nSubject: Caf\xc3\xa9\r\n\r\nHello.\r\n"
    rendered = render(run(raw))
    assert head(rendered).isascii()
    assert str(message_from_bytes(rendered, policy=default)["Subject"]) == "[ops] Café"


# -- footer text ------------------------------------------------------------------------------

@pytest.mark.parametrize(("template", "expected"), [
    ("", ""),
    ("   \n", ""),
    ("{display_name} <{list_address}>", "Ops <ops@example.com>"),
    ("{request_address} {unsubscribe_address}", "ops-request@example.com ops-leave@example.com"),
    ("Archive: {archive_url}", "Archive: https://lists.example.com/ops"),
    ("{unknown} stays", "{unknown} stays"),
    ("{{literal}} {display_name}", "{literal} Ops"),
    ("stray { brace {display_name}", "stray { brace Ops"),
    ("stray } brace {display_name}", "stray } brace Ops"),
    ("{0} {display_name}", "{0} Ops"),
    ("{display_name.upper} {list_address}", "{display_name.upper} ops@example.com"),
    ("{display_name!z} {list_address}", "{display_name!z} ops@example.com"),
    ("{unknown:{nested}}", "{unknown:{nested}}"),
])
def test_footer_template_never_raises(template: str, expected: str) -> None:
    assert footer_text(dataclasses.replace(LIST, footer=template)) == expected


def test_footer_display_name_defaults_to_the_list_name() -> None:
    assert footer_text(dataclasses.replace(LIST, display_name="", footer="{display_name}")) == "ops"


# -- footer placement -------------------------------------------------------------------------

FOOTER_TAIL = f"\n{SEPARATOR}\nOps list: ops@example.com\n"


@pytest.mark.parametrize(("raw", "text", "charset", "cte"), [
    (PLAIN, "The valves leak.\n" + FOOTER_TAIL, None, "7bit"),
    (with_headers("Subject: x", payload=b"No final newline"),
     "No final newline\n" + FOOTER_TAIL, None, "7bit"),
    (with_headers("Content-Type: text/plain; charset=iso-8859-1",
                  "Content-Transfer-Encoding: 8bit", payload=b"Caf\xe9\r\n"),
     "Café\n" + FOOTER_TAIL, "iso-8859-1", "8bit"),
    (with_headers("Content-Type: text/plain; charset=utf-8",
                  "Content-Transfer-Encoding: quoted-printable", payload=b"Caf=C3=A9\r\n"),
     "Café\n" + FOOTER_TAIL, "utf-8", "quoted-printable"),
    (with_headers("Content-Type: text/plain; charset=utf-8",
                  "Content-Transfer-Encoding: base64", payload=b"Q2Fmw6kK\r\n"),
     "Café\n" + FOOTER_TAIL, "utf-8", "base64"),
])
def test_footer_is_appended_to_a_plain_text_body(raw: bytes, text: str, charset: str | None,
                                                 cte: str) -> None:
    parsed = reparse(run(raw))
    assert not parsed.is_multipart()
    assert parsed.get_content().replace("\r\n", "\n") == text
    assert parsed.get_content_charset() == charset
    assert str(parsed.get("Content-Transfer-Encoding", "7bit")) == cte


@pytest.mark.parametrize(("footer", "charset"), [
    ("Grüße from {display_name}", "iso-8859-1"),  # Latin-1 can say it: the charset stays
    ("Ops € list", "utf-8"),  # it cannot: the whole body becomes UTF-8
    ("Опс", "utf-8"),
])
def test_footer_charset_for_a_latin1_body(footer: str, charset: str) -> None:
    raw = with_headers("Content-Type: text/plain; charset=iso-8859-1",
                       "Content-Transfer-Encoding: 8bit", payload=b"Gr\xfc\xdfe, Caf\xe9\r\n")
    policy = dataclasses.replace(LIST, footer=footer)
    parsed = reparse(run(raw, policy))
    assert parsed.get_content_charset() == charset
    content = texts(parsed)[0]
    assert content.startswith("Grüße, Café\n")
    assert content.endswith(footer_text(policy) + "\n")


def test_ascii_body_with_non_ascii_footer_becomes_utf8_quoted_printable() -> None:
    message = run(PLAIN, dataclasses.replace(LIST, footer="Grüße"))
    parsed = reparse(message)
    assert parsed.get_content_charset() == "utf-8"
    assert parsed["Content-Transfer-Encoding"] == "quoted-printable"
    assert parsed["MIME-Version"] == "1.0"
    assert texts(parsed)[0].endswith(f"{SEPARATOR}\nGrüße\n")


def test_format_flowed_footer_has_no_soft_breaks_and_is_space_stuffed() -> None:
    raw = with_headers("Content-Type: text/plain; charset=utf-8; format=flowed; delsp=yes",
                       payload=b"A flowed \r\nparagraph.\r\n")
    policy = dataclasses.replace(LIST, footer="Trailing space   \n> quoted\nFrom here")
    parsed = reparse(run(raw, policy))
    assert parsed.get_param("format") == "flowed"
    assert parsed.get_param("delsp") == "yes"
    assert parsed.get_content().replace("\r\n", "\n") == (
        f"A flowed \nparagraph.\n\n{SEPARATOR}\nTrailing space\n > quoted\n From here\n")


def subparts(message: Message) -> list[Message]:
    parts = message.get_payload()
    assert isinstance(parts, list)
    return [part for part in parts if isinstance(part, Message)]


def footer_part(message: Message) -> Message:
    return subparts(message)[-1]


MIXED = (b"From: alice@example.org\r\nSubject: x\r\nMIME-Version: 1.0\r\n"
         b"Content-Type: multipart/mixed; boundary=BB\r\n\r\n--BB\r\n"
         b"Content-Type: text/plain\r\n\r\nSee attached.\r\n--BB\r\n"
         b"Content-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n"
         b"JVBERi0=\r\n--BB--\r\n")
ALTERNATIVE = (b"From: alice@example.org\r\nSubject: x\r\nMIME-Version: 1.0\r\n"
               b"Content-Type: multipart/alternative; boundary=AA\r\n\r\n--AA\r\n"
               b"Content-Type: text/plain\r\n\r\nPlain.\r\n--AA\r\n"
               b"Content-Type: text/html\r\n\r\n<p>Rich.</p>\r\n--AA--\r\n")


def test_multipart_mixed_gets_an_inline_footer_part() -> None:
    parsed = reparse(run(MIXED))
    parts = subparts(parsed)
    assert [part.get_content_type() for part in parts] == [
        "text/plain", "application/pdf", "text/plain"]
    assert parts[1].get_payload(decode=True) == b"%PDF-"
    footer = footer_part(parsed)
    assert footer.get_content_disposition() == "inline"
    assert footer.get_content_charset() == "utf-8"
    assert texts(parsed)[0] == "See attached."  # the last CRLF belongs to the boundary
    assert texts(parsed)[-1] == f"{SEPARATOR}\nOps list: ops@example.com\n"


@pytest.mark.parametrize(("raw", "inner_type", "inner_texts"), [
    (ALTERNATIVE, "multipart/alternative", ["Plain.", "<p>Rich.</p>"]),
    (with_headers("Content-Type: text/html", payload=b"<p>Hi</p>\r\n"), "text/html",
     ["<p>Hi</p>\n"]),
    (with_headers("Content-Type: text/plain; name=log.txt", "Content-Disposition: attachment",
                  payload=b"log line\r\n"), "text/plain", ["log line\n"]),
    (with_headers("Content-Type: application/octet-stream", "Content-Transfer-Encoding: base64",
                  payload=b"AAEC\r\n"), "application/octet-stream", ["\x00\x01\x02"]),
])
def test_other_content_is_wrapped_in_multipart_mixed(raw: bytes, inner_type: str,
                                                     inner_texts: list[str]) -> None:
    parsed = reparse(run(raw))
    assert parsed.get_content_type() == "multipart/mixed"
    parts = subparts(parsed)
    assert len(parts) == 2
    assert parts[0].get_content_type() == inner_type
    assert parts[0]["From"] is None and parts[0]["List-Id"] is None
    assert texts(parsed)[:-1] == inner_texts
    assert footer_part(parsed).get_content_disposition() == "inline"
    assert parsed["MIME-Version"] == "1.0"


SIGNED = (b"From: alice@example.org\r\nSubject: signed\r\nMIME-Version: 1.0\r\n"
          b'Content-Type: multipart/signed; micalg=pgp-sha256;\r\n'
          b' protocol="application/pgp-signature"; boundary=SS\r\n\r\n'
          b"This is an OpenPGP/MIME signed message.\r\n--SS\r\n"
          b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
          b"Signed text \xc3\xa9 with a " + b"long line " * 120 + b"\r\n--SS\r\n"
          b"Content-Type: application/pgp-signature\r\n\r\n"
          b"-----BEGIN PGP SIGNATURE-----\r\nabc\r\n-----END PGP SIGNATURE-----\r\n--SS--\r\n")
ENCRYPTED = (b"From: alice@example.org\r\nSubject: secret\r\nMIME-Version: 1.0\r\n"
             b'Content-Type: multipart/encrypted; protocol="application/pgp-encrypted";'
             b" boundary=EE\r\n\r\n--EE\r\nContent-Type: application/pgp-encrypted\r\n\r\n"
             b"Version: 1\r\n--EE\r\nContent-Type: application/octet-stream\r\n\r\n"
             b"-----BEGIN PGP MESSAGE-----\r\nxyz\r\n-----END PGP MESSAGE-----\r\n--EE--\r\n")
SMIME = (b"From: alice@example.org\r\nSubject: smime\r\nMIME-Version: 1.0\r\n"
         b'Content-Type: application/pkcs7-mime; smime-type=enveloped-data; name="smime.p7m"\r\n'
         b"Content-Transfer-Encoding: base64\r\n\r\nMIAGCSqGSIb3DQEHA6CAMIACAQAx\r\n")


@pytest.mark.parametrize("raw", [SIGNED, ENCRYPTED, SMIME])
def test_signed_and_encrypted_bodies_are_not_touched(raw: bytes) -> None:
    rendered = render(run(raw))
    assert body(rendered) == body(raw)
    parsed = message_from_bytes(rendered, policy=default)
    assert parsed["List-Id"] == "Ops <ops.example.com>"
    assert parsed["Subject"].startswith("[ops] ")


FLOWED = with_headers("Content-Type: text/plain; charset=utf-8; format=flowed",
                     payload=b"A flowed \r\nparagraph.\r\n")


@pytest.mark.parametrize("raw", [
    PLAIN, MIXED, ALTERNATIVE, FLOWED,
    with_headers("Subject: x", payload=b"No final newline"),
    with_headers("Content-Type: text/plain; charset=iso-8859-1",
                 "Content-Transfer-Encoding: 8bit", payload=b"Caf\xe9\r\n"),
    with_headers("Content-Type: text/plain; charset=utf-8",
                 "Content-Transfer-Encoding: base64", payload=b"Q2Fmw6kK\r\n"),
    with_headers("Content-Type: text/html", payload=b"<p>Hi</p>\r\n"),
])
@pytest.mark.parametrize("footer", ["{display_name} list: {list_address}", "> Grüße €\nFrom x "])
def test_remove_footer_gives_back_the_content_add_footer_had(raw: bytes, footer: str) -> None:
    policy = dataclasses.replace(LIST, footer=footer)
    plain = reparse(run(raw, dataclasses.replace(policy, footer="")))
    footed = reparse(run(raw, policy))
    assert remove_footer(footed, footer_text(policy))
    restored = reparse(footed)
    assert restored.get_content_type() == plain.get_content_type()
    assert [text.rstrip("\n") for text in texts(restored)] == \
        [text.rstrip("\n") for text in texts(plain)]


@pytest.mark.parametrize("raw", [PLAIN, MIXED, SIGNED])
def test_remove_footer_leaves_a_message_without_that_footer_alone(raw: bytes) -> None:
    footed = reparse(run(raw))
    before = render(footed)
    assert not remove_footer(footed, "Another footer")
    assert not remove_footer(footed, "")
    assert render(footed) == before


def test_empty_footer_leaves_the_body_alone() -> None:
    rendered = render(run(ALTERNATIVE, dataclasses.replace(LIST, footer="")))
    assert body(rendered) == body(ALTERNATIVE)


@pytest.mark.parametrize("raw", [
    with_headers("Content-Type: text/plain; charset=x-unknown", payload=b"Odd \xe9 text\r\n"),
    with_headers("Content-Type: text/plain; charset=us-ascii", payload=b"Not \xe9 ASCII\r\n"),
    with_headers("Content-Type: text/plain; charset=utf-8", payload=b"Not \xff UTF-8\r\n"),
    with_headers("Content-Type: text/plain; charset=base64", payload=b"Q2Fm\r\n"),
    with_headers("Content-Type: text/plain", payload=b"Undeclared \xe9\r\n"),
    with_headers("Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: base64",
                 payload=b"Q2Fmw6kK!!!=\r\n"),
])
def test_undecodable_text_keeps_its_octets_and_gets_a_footer_part(raw: bytes) -> None:
    parsed = reparse(run(raw))
    assert parsed.get_content_type() == "multipart/mixed"
    parts = subparts(parsed)
    assert len(parts) == 2
    original = post(raw).message.get_payload(decode=True)
    assert parts[0].get_payload(decode=True) == original
    assert texts(parsed)[-1] == f"{SEPARATOR}\nOps list: ops@example.com\n"


# -- list headers -----------------------------------------------------------------------------

def test_list_headers() -> None:
    assert list_headers(LIST) == [
        ("List-Id", "Ops <ops.example.com>"),
        ("List-Post", "<mailto:ops@example.com>"),
        ("List-Help", "<mailto:ops-request@example.com?subject=help>"),
        ("List-Subscribe", "<mailto:ops-join@example.com>"),
        ("List-Unsubscribe", "<mailto:ops-leave@example.com>"),
        ("List-Owner", "<mailto:ops-owner@example.com>"),
        ("List-Archive", "<https://lists.example.com/ops>"),
        ("Precedence", "list"),
        ("X-BeenThere", "ops@example.com"),
        ("Sender", "ops-bounces@example.com"),
    ]


@pytest.mark.parametrize(("display_name", "list_id", "raw_value", "decoded"), [
    ("Ops", "ops.example.com", "Ops <ops.example.com>", "Ops <ops.example.com>"),
    ("Ops Team", "<ops.example.com>", "Ops Team <ops.example.com>", "Ops Team <ops.example.com>"),
    ("Ops, Inc.", "ops.example.com", '"Ops, Inc." <ops.example.com>',
     '"Ops, Inc." <ops.example.com>'),
    ('Say "hi"', "ops.example.com", r'"Say \"hi\"" <ops.example.com>',
     r'"Say \"hi\"" <ops.example.com>'),
    ("Öl & Gas, Nord", "ops.example.com", None, "Öl & Gas, Nord <ops.example.com>"),
    ("", "ops.example.com", "<ops.example.com>", "<ops.example.com>"),
    ("", "", "<ops.example.com>", "<ops.example.com>"),
])
def test_list_id_display_name_is_quoted_or_encoded(display_name: str, list_id: str,
                                                   raw_value: str | None, decoded: str) -> None:
    policy = dataclasses.replace(LIST, display_name=display_name, list_id=list_id)
    rendered = render(run(PLAIN, policy))
    line = re.search(rb"\r\nList-Id: (.*?)\r\n(?! )", rendered)
    assert line is not None and line.group(1).isascii()
    if raw_value is not None:
        assert line.group(1).decode() == raw_value
    assert message_from_bytes(rendered, policy=default)["List-Id"] == decoded


FORWARDED = (b"From: alice@example.org\r\nSubject: [other] news\r\n"
             b"List-Id: Other <other.example.net>\r\nList-Post: <mailto:other@example.net>\r\n"
             b"List-Help: <mailto:other-request@example.net>\r\nlist-subscribe: <x>\r\n"
             b"List-Unsubscribe: <https://example.net/u>\r\nList-Unsubscribe-Post: "
             b"List-Unsubscribe=One-Click\r\nList-Owner: <x>\r\nList-Archive: <x>\r\n"
             b"Archived-At: <x>\r\nPrecedence: bulk\r\nX-BeenThere: other@example.net\r\n"
             b"Sender: other-bounces@example.net\r\nErrors-To: other-owner@example.net\r\n"
             b"\r\nNews.\r\n")


@pytest.mark.parametrize(("name", "value"), [
    *list_headers(LIST),
    ("Archived-At", "<https://lists.example.com/ops/generated.1%40lists.example.com/>"),
    ("List-Unsubscribe-Post", None),
])
def test_list_headers_replace_another_lists(name: str, value: str | None) -> None:
    parsed = reparse(run(FORWARDED))
    assert parsed.get_all(name) == ([value] if value else None)


def test_errors_to_is_not_added() -> None:
    assert reparse(run(PLAIN))["Errors-To"] is None
    assert reparse(run(FORWARDED))["Errors-To"] == "other-owner@example.net"


WEB = dataclasses.replace(LIST, archive_url="", web_url="https://lists.example.com",
                          archive_visibility=ArchiveVisibility.PUBLIC)


@pytest.mark.parametrize(("policy", "archive", "archived_at"), [
    (LIST, "<https://lists.example.com/ops>",
     "<https://lists.example.com/ops/valves.1%40example.org/>"),
    (dataclasses.replace(LIST, archive_url="https://lists.example.com/ops/"),
     "<https://lists.example.com/ops/>", "<https://lists.example.com/ops/valves.1%40example.org/>"),
    (dataclasses.replace(LIST, archive_url=""), None, None),
    (dataclasses.replace(LIST, archive=False), "<https://lists.example.com/ops>", None),
    # Without an archive_url, the web side's pages when the site has a base URL (RFC 5064).
    (WEB, "<https://lists.example.com/lists/ops@example.com/>",
     "<https://lists.example.com/lists/ops@example.com/messages/valves.1%40example.org>"),
    (dataclasses.replace(WEB, archive_visibility=ArchiveVisibility.MEMBERS),
     "<https://lists.example.com/lists/ops@example.com/>",
     "<https://lists.example.com/lists/ops@example.com/messages/valves.1%40example.org>"),
    (dataclasses.replace(WEB, archive_visibility=ArchiveVisibility.PRIVATE), None, None),
    (dataclasses.replace(WEB, web_url=""), None, None),
    (dataclasses.replace(WEB, archive=False), "<https://lists.example.com/lists/ops@example.com/>",
     None),
    (dataclasses.replace(WEB, archive_url="https://archive.example.net/ops"),
     "<https://archive.example.net/ops>", "<https://archive.example.net/ops/valves.1%40example.org/>"),
])
def test_archive_headers(policy: ListPolicy, archive: str | None,
                         archived_at: str | None) -> None:
    parsed = reparse(run(PLAIN, policy))
    assert parsed["List-Archive"] == archive
    assert parsed["Archived-At"] == archived_at


@pytest.mark.parametrize(("message_id", "path"), [
    ("<a/b%c?d#e@example.org>", "a%2Fb%25c%3Fd%23e%40example.org"),
    ("<CA+x=y@mail.gmail.com>", "CA%2Bx%3Dy%40mail.gmail.com"),
    ("<" + "x" * 120 + "@example.org>", "x" * 120 + "%40example.org"),
])
def test_archived_at_encodes_the_message_id_as_the_web_side_does(message_id: str,
                                                                 path: str) -> None:
    rendered = render(run(with_headers(f"Message-ID: {message_id}")))
    expected = f"Archived-At: <https://lists.example.com/ops/{path}/>\r\n".encode()
    assert expected in rendered  # one line, not folded into encoded words
    rendered = render(run(with_headers(f"Message-ID: {message_id}"), WEB))
    expected = ("Archived-At: <https://lists.example.com"
                f"{message_path('ops@example.com', message_id)}>\r\n").encode()
    assert expected in rendered
    assert message_path("ops@example.com", message_id).endswith(f"/messages/{path}")


def test_the_footer_names_the_archive_on_the_web() -> None:
    policy = dataclasses.replace(WEB, footer="Archive: {archive_url}")
    assert footer_text(policy) == "Archive: https://lists.example.com/lists/ops@example.com/"


# -- Reply-To and other headers ---------------------------------------------------------------

@pytest.mark.parametrize(("reply_to", "address", "incoming", "expected"), [
    (ReplyTo.LEAVE, "", "Reply-To: bob@example.org", ["bob@example.org"]),
    (ReplyTo.LEAVE, "", "X-None: 1", None),
    (ReplyTo.LIST, "", "Reply-To: bob@example.org", ["ops@example.com"]),
    (ReplyTo.LIST, "", "X-None: 1", ["ops@example.com"]),
    (ReplyTo.EXPLICIT, "Ops Team <team@example.com>", "Reply-To: bob@example.org",
     ["Ops Team <team@example.com>"]),
    (ReplyTo.EXPLICIT, "", "Reply-To: bob@example.org", ["bob@example.org"]),
])
def test_reply_to_policy(reply_to: ReplyTo, address: str, incoming: str,
                         expected: list[str] | None) -> None:
    policy = dataclasses.replace(LIST, reply_to=reply_to, reply_to_address=address)
    assert reparse(run(with_headers(incoming), policy)).get_all("Reply-To") == expected


INCOMING = (b"Return-Path: <alice@example.org>\r\nFrom: =?utf-8?q?Al=C3=AFce?= <alice@example.org>"
            b"\r\nX-Listserv-Rule-Hits: nonmember\r\nApproved: secret\r\nApprove: secret\r\n"
            b"DKIM-Signature: v=1; a=rsa-sha256; d=example.org; b=abc\r\n"
            b"X-Spam-Score: 5\r\nx-spam-flag: YES\r\nKeep-Me: yes\r\nSubject: x\r\n\r\nHi\r\n")


@pytest.mark.parametrize(("name", "present"), [
    ("Return-Path", False),
    ("X-Listserv-Rule-Hits", False),
    ("Approved", False),
    ("Approve", False),
    ("X-Spam-Score", False),
    ("X-Spam-Flag", False),
    ("DKIM-Signature", True),
    ("Keep-Me", True),
])
def test_incoming_headers_are_removed(name: str, present: bool) -> None:
    policy = dataclasses.replace(LIST, strip_headers=("x-spam-score", "X-SPAM-FLAG:"))
    assert (reparse(run(INCOMING, policy))[name] is not None) == present


def test_from_is_untouched() -> None:
    rendered = render(run(INCOMING))
    assert rendered.startswith(b"From: =?utf-8?q?Al=C3=AFce?= <alice@example.org>\r\n")


@pytest.mark.parametrize(("lines", "message_id", "date"), [
    (("Message-ID: <m@x>", "Date: Thu, 29 Feb 2024 10:00:00 +0000"),
     "<m@x>", "Thu, 29 Feb 2024 10:00:00 +0000"),
    (("Date: Thu, 29 Feb 2024 10:00:00 +0000",), NEW_ID, "Thu, 29 Feb 2024 10:00:00 +0000"),
    (("Message-ID: <m@x>",), "<m@x>", "Fri, 01 Mar 2024 12:30:00 +0000"),
    (("Message-ID:", "Date: "), NEW_ID, "Fri, 01 Mar 2024 12:30:00 +0000"),
])
def test_missing_message_id_and_date_are_supplied(lines: tuple[str, ...], message_id: str,
                                                  date: str) -> None:
    parsed = reparse(run(with_headers(*lines)))
    assert parsed.get_all("Message-ID") == [message_id]
    assert parsed.get_all("Date") == [date]


def test_the_post_is_not_mutated() -> None:
    for raw in (PLAIN, MIXED, ALTERNATIVE, INCOMING):
        original = post(raw)
        before = original.message.as_bytes()
        decorate(original, LIST, message_id=NEW_ID, now=NOW)
        assert original.message.as_bytes() == before


# -- line length ------------------------------------------------------------------------------

LONG = b"word" * 400  # 1600 octets, no spaces
LONG_LINES = [
    with_headers("Content-Type: text/plain; charset=utf-8", payload=LONG + b"\r\nshort\r\n"),
    with_headers("Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit",
                 payload=b"\xc3\xa9" * 700 + b"\r\n"),
    with_headers("Content-Type: text/plain; charset=x-unknown", payload=LONG + b"\r\n"),
    with_headers("Content-Type: text/html", payload=b"<p>" + LONG + b"</p>\r\n"),
    MIXED.replace(b"See attached.", LONG),
    MIXED.replace(b"JVBERi0=", b"JVBERi0=" * 200),  # base64 written on one line
    with_headers("Content-Type: application/octet-stream", payload=LONG + b"\r\n"),
    with_headers("Subject: " + "long " * 300, payload=b"x\r\n"),
    with_headers("X-Long: " + "y" * 1500, payload=b"x\r\n"),
    with_headers("References: " + " ".join(f"<{n}.{'r' * 60}@example.org>" for n in range(30))),
    MIXED.replace(b"Content-Type: application/pdf", b"Content-Type: application/pdf; name="
                  + b"x" * 1200),
    (b"From: alice@example.org\r\nMIME-Version: 1.0\r\n"
     b"Content-Type: multipart/mixed; boundary=PP\r\n\r\n" + LONG + b"\r\n--PP\r\n\r\nx\r\n"
     b"--PP--\r\n" + LONG + b"\r\n"),
]


@pytest.mark.parametrize("raw", LONG_LINES)
@pytest.mark.parametrize("footer", ["", "{display_name} list"])
def test_no_line_is_longer_than_998_octets(raw: bytes, footer: str) -> None:
    assert max(len(line) for line in raw.split(b"\r\n")) > 998
    message = run(raw, dataclasses.replace(LIST, footer=footer))
    for output in (render(message), message.as_bytes()):
        assert max(len(line) for line in re.split(rb"\r\n|\n", output)) <= 998
    parsed = reparse(message)
    before = "".join(texts(post(raw).message)).replace("\r\n", "\n")
    after = "".join(texts(parsed)).replace("\r\n", "\n")
    assert before.rstrip("\n") in after


def test_over_long_references_are_folded_between_message_ids() -> None:
    ids = [f"<{n}.{'r' * 60}@example.org>" for n in range(30)]
    parsed = reparse(run(with_headers("References: " + " ".join(ids))))
    assert str(parsed["References"]).split() == ids


def test_long_references_keep_their_message_ids() -> None:
    mid = "<CAH" + "a" * 70 + "@mail.gmail.com>"
    rendered = render(run(with_headers(f"In-Reply-To: {mid}", f"References: <x@y> {mid}")))
    assert f"\r\nIn-Reply-To: {mid}\r\n".encode() in rendered
    assert f"\r\nReferences: <x@y> {mid}\r\n".encode() in rendered


# -- robustness -------------------------------------------------------------------------------

BROKEN = [
    b"",
    b"\x00\xff garbage without headers",
    b"Subject: no body",
    b"Subject: only headers\r\n\r\n",
    b"Subject: no from\r\n\r\nMARKER\r\n",
    b"From: alice@example.org\r\n\r\nMARKER no subject\r\n",
    b"From: \xff\xfe <alice@example.org>\r\nSubject: \xe9t\xe9 \xff\r\n"
    b"X-8bit: \x80\r\n\r\nMARKER\r\n",
    b"From: alice@example.org\r\nSubject: =?utf-8?b?!!!?= =?x?q?y?= =?utf-8?q?=FF?=\r\n"
    b"To: =?utf-8?q?broken <ops@example.com>\r\n\r\nMARKER\r\n",
    b"From: alice@example.org\r\nSubject: nul\x00 byte\r\n\r\nMAR\x00KER\r\n",
    b"From: alice@example.org\r\nContent-Type: multipart/mixed\r\n\r\nMARKER no boundary\r\n",
    b"From: alice@example.org\r\nContent-Type: multipart/mixed\r\n\r\nMARKER \xff 8-bit\r\n",
    b"From: alice@example.org\r\nContent-Type: multipart/alternative; boundary=NEVER\r\n\r\n"
    b"MARKER\r\n",
    b"From: alice@example.org\r\nContent-Type: multipart/mixed; boundary=T\r\n\r\n--T\r\n"
    b"Content-Type: text/plain\r\n\r\nMARKER truncated",
    b"From: alice@example.org\r\nContent-Type: text/plain; charset*=utf-8''%E9\r\n\r\nMARKER\r\n",
    b"From: alice@example.org\r\nContent-Type: text/plain; charset=\"\xff\"\r\n\r\nMARKER\r\n",
    b"From: alice@example.org\r\nContent-Type: text/plain; charset=unicode-escape\r\n\r\n"
    b"MARKER C:\\new\r\n",
    b"From: alice@example.org\r\nContent-Type: text\r\nContent-Transfer-Encoding: bogus\r\n\r\n"
    b"MARKER\r\n",
    b"From: alice@example.org\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: "
    b"x-uuencode\r\n\r\nMARKER\r\n",
    b"From: alice@example.org\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\n"
    b"MARKER\r\n",
    b"From: alice@example.org\r\nContent-Type: ;;;===\r\nContent-Disposition: ;;\r\n\r\nMARKER\r\n",
    b"From: alice@example.org\r\nMessage-ID: <\xff@x>\r\nDate: not a date\r\n\r\nMARKER\r\n",
    b"From: alice@example.org\nSubject: bare LF\n\nMARKER\n",
    b"From alice@example.org Thu Feb 29 10:00:00 2024\r\nFrom: alice@example.org\r\n\r\nMARKER\r\n",
]


def nested(depth: int) -> bytes:
    head = b"From: alice@example.org\r\nSubject: deep\r\nMIME-Version: 1.0\r\n"
    parts = b"Content-Type: text/plain\r\n\r\nMARKER\r\n"
    for level in range(depth):
        boundary = f"b{level}".encode()
        parts = (b"Content-Type: multipart/mixed; boundary=" + boundary + b"\r\n\r\n--" +
                 boundary + b"\r\n" + parts + b"\r\n--" + boundary + b"--\r\n")
    return head + parts


def rendered_text(output: bytes) -> str:
    """Everything a reader could recover from the output: raw octets and decoded parts."""
    parsed = message_from_bytes(output, _class=EmailMessage, policy=default)
    return output.decode("latin-1") + "".join(texts(parsed))


@pytest.mark.parametrize("raw", [*BROKEN, nested(60)])
@pytest.mark.parametrize("policy", [LIST, dataclasses.replace(
    LIST, footer="{", subject_prefix="[Öl]", display_name="Öl, Gas", reply_to=ReplyTo.LIST)])
def test_broken_posts_are_decorated_without_raising(raw: bytes, policy: ListPolicy) -> None:
    message = decorate(post(raw), policy, message_id=NEW_ID, now=NOW)
    output = render(message)
    assert output.endswith(b"\r\n") or not raw
    assert re.search(rb"(?<!\r)\n", output) is None  # CRLF line ends only
    parsed = message_from_bytes(output, policy=default)
    assert parsed["List-Id"] is not None
    assert header_text(parsed, "Subject").startswith(policy.subject_prefix)
    if b"MARKER" in raw:
        assert "MARKER" in rendered_text(output)


def test_deeply_nested_mime_is_passed_on_unparsed() -> None:
    raw = nested(300)  # deeper than the email package's generator can recurse
    output = render(run(raw))
    assert body(output) == body(raw)
    parsed = message_from_bytes(output, policy=default)
    assert parsed["List-Id"] == "Ops <ops.example.com>"
    assert parsed["Subject"] == "[ops] deep"


@pytest.mark.parametrize(("header", "expected"), [
    ("X-Odd: a\x0cb\x0bc\x1cd", "a b c d"),
    ("Subject: s\x0ct", "[ops] s t"),
])
def test_stray_line_breaks_do_not_end_the_header_section(header: str, expected: str) -> None:
    parsed = reparse(run(with_headers(header)))
    name = header.partition(":")[0]
    assert " ".join(str(parsed[name]).split()) == expected
    assert parsed["List-Id"] == "Ops <ops.example.com>"


SEEDS = [PLAIN, MIXED, ALTERNATIVE, SIGNED, INCOMING,
         with_headers("Content-Type: text/plain; charset=iso-8859-1; format=flowed",
                      "Content-Transfer-Encoding: quoted-printable", payload=b"Caf=E9 =\r\nx\r\n")]


@pytest.mark.parametrize("seed", range(300))
def test_mutated_posts_are_decorated_without_raising(seed: int) -> None:
    rng = random.Random(seed)
    raw = bytearray(rng.choice(SEEDS))
    for _ in range(rng.randint(1, 12)):
        position = rng.randrange(len(raw) + 1)
        action = rng.randrange(4)
        if action == 0:
            raw[position:position + 1] = bytes([rng.randrange(256)])
        elif action == 1:
            del raw[position:position + rng.randint(1, 40)]
        elif action == 2:
            raw[position:position] = rng.choice([b"\r\n", b"\n", b"\x00", b"=?", b"?=", b"--",
                                                 b";", b'"', b"\xff\xfe", b"\r\n\r\n", b"="])
        else:
            raw[position:position] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
    message = decorate(post(bytes(raw)), LIST, message_id=NEW_ID, now=NOW)
    output = render(message)
    assert re.search(rb"(?<!\r)\n", output) is None
    assert message_from_bytes(output, policy=default)["List-Id"] == "Ops <ops.example.com>"
