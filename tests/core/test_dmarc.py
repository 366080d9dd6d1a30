# SPDX-License-Identifier: Apache-2.0
import dataclasses
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import EmailMessage, Message
from email.policy import default
from email.utils import getaddresses

import pytest

from listserv.core.decoration import decorate, render
from listserv.core.dmarc import (
    DmarcPolicy,
    Record,
    applicable,
    author_domains,
    decide,
    mitigate,
    munge_from,
    parse_records,
    strictest,
    wrap,
)
from listserv.core.list_settings import LIST_SETTINGS
from listserv.core.message import Post, header_text, header_texts, parse_post
from listserv.core.policy import AuthorIn, DmarcMitigation, DnsFailure, ListPolicy, ReplyTo
from listserv.errors import SettingError

NOW = datetime(2024, 3, 1, 12, 30, tzinfo=UTC)
LIST = ListPolicy(address="ops@example.com", display_name="Operations Excellence",
                  list_id="ops.example.com", subject_prefix="[ops]", footer="ops list")
POST = (b"From: Alice Author <alice@strict.example>\r\nTo: ops@example.com\r\n"
        b"Subject: Valves\r\nMessage-ID: <valves.1@strict.example>\r\n"
        b"DKIM-Signature: v=1; a=rsa-sha256; d=strict.example; s=s1; b=abc\r\n"
        b"Date: Thu, 29 Feb 2024 10:00:00 +0000\r\n\r\nThe valves leak.\r\n")


def post(raw: bytes = POST) -> Post:
    return parse_post(raw, "alice@strict.example", "ops@example.com")


def decorated(raw: bytes = POST, policy: ListPolicy = LIST) -> EmailMessage:
    return decorate(post(raw), policy, message_id="<new.1@example.com>", now=NOW)


def reparse(message: Message) -> EmailMessage:
    parsed = message_from_bytes(render(message), _class=EmailMessage, policy=default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def addresses(message: Message, name: str) -> list[str]:
    return [address.lower() for _, address in getaddresses(header_texts(message, name))]


@pytest.mark.parametrize(("texts", "expected"), [
    (["v=DMARC1; p=reject"], Record(DmarcPolicy.REJECT)),
    (["v=DMARC1;p=quarantine;sp=none;pct=50"], Record(DmarcPolicy.QUARANTINE, DmarcPolicy.NONE)),
    ([" v = DMARC1 ; P=Reject ; fo=1 ; unknown=tag ;"], Record(DmarcPolicy.REJECT)),
    (["v=DMARC1; p=none; sp=bogus"], Record(DmarcPolicy.NONE)),
    (["v=spf1 -all", "v=DMARC1; p=reject"], Record(DmarcPolicy.REJECT)),
    (["v=DMARC1; p=reject", "v=DMARC1; p=none"], None),  # several: RFC 7489 says none
    (["p=reject; v=DMARC1"], None),  # v must come first
    (["v=DMARC2; p=reject"], None),
    (["v=DMARC1; p=bogus"], None),
    (["v=DMARC1; rua=mailto:d@strict.example"], Record(DmarcPolicy.NONE)),
    (["v=DMARC1"], None),
    (["", ";;;", "=", "v=DMARC1; p"], None),
    ([], None),
    (["v=DMARC1; p=reject; p=none"], Record(DmarcPolicy.REJECT)),  # the first tag counts
])
def test_parse_records_finds_the_one_dmarc_record(texts: list[str],
                                                  expected: Record | None) -> None:
    assert parse_records(texts) == expected


@pytest.mark.parametrize(("record", "organisational", "expected"), [
    (None, False, DmarcPolicy.ABSENT),
    (Record(DmarcPolicy.REJECT, DmarcPolicy.NONE), False, DmarcPolicy.REJECT),
    (Record(DmarcPolicy.REJECT, DmarcPolicy.NONE), True, DmarcPolicy.NONE),
    (Record(DmarcPolicy.QUARANTINE), True, DmarcPolicy.QUARANTINE),
])
def test_applicable_uses_sp_only_for_subdomains(record: Record | None, organisational: bool,
                                                expected: DmarcPolicy) -> None:
    assert applicable(record, at_organisational_domain=organisational) is expected


@pytest.mark.parametrize(("policies", "expected"), [
    ([], DmarcPolicy.ABSENT),
    ([DmarcPolicy.NONE, DmarcPolicy.REJECT, DmarcPolicy.QUARANTINE], DmarcPolicy.REJECT),
    ([DmarcPolicy.ABSENT, DmarcPolicy.UNKNOWN, DmarcPolicy.NONE], DmarcPolicy.UNKNOWN),
])
def test_strictest_of_several_authors(policies: list[DmarcPolicy],
                                      expected: DmarcPolicy) -> None:
    assert strictest(policies) is expected


@pytest.mark.parametrize(("from_", "expected"), [
    (b"Alice <alice@Strict.Example>", ["strict.example"]),
    (b"a@one.example, b@two.example, c@one.example", ["one.example", "two.example"]),
    (b"=?utf-8?q?J=C3=B6rg?= <j@b\xc3\xbccher.example>", ["xn--bcher-kva.example"]),
    (b"undisclosed-recipients:;", []),
    (b"not an address", []),
])
def test_author_domains_are_idna_and_each_once(from_: bytes, expected: list[str]) -> None:
    message = post(b"From: " + from_ + b"\r\n\r\nbody\r\n").message
    assert author_domains(message) == expected


M, W, N = DmarcMitigation.MUNGE_FROM, DmarcMitigation.WRAP, DmarcMitigation.NONE


@pytest.mark.parametrize(("found", "settings", "expected"), [
    (DmarcPolicy.REJECT, {}, M),
    (DmarcPolicy.QUARANTINE, {"dmarc_mitigation": W}, W),
    (DmarcPolicy.REJECT, {"dmarc_mitigation": N}, N),
    (DmarcPolicy.NONE, {}, N),
    (DmarcPolicy.NONE, {"dmarc_mitigate_none": True}, M),
    (DmarcPolicy.ABSENT, {"dmarc_mitigate_none": True}, N),
    (DmarcPolicy.UNKNOWN, {}, M),
    (DmarcPolicy.UNKNOWN, {"dmarc_on_dns_failure": DnsFailure.NONE}, N),
    (DmarcPolicy.ABSENT, {"dmarc_always": ("strict.example",)}, M),
    (DmarcPolicy.ABSENT, {"dmarc_always": ("example",)}, M),  # a parent domain
    (DmarcPolicy.ABSENT, {"dmarc_always": ("alice@strict.example",)}, M),
    (DmarcPolicy.ABSENT, {"dmarc_always": ("bob@strict.example", "ict.example")}, N),
])
def test_decide_follows_the_policy_and_the_list_settings(
        found: DmarcPolicy, settings: dict[str, object], expected: DmarcMitigation) -> None:
    policy = dataclasses.replace(LIST, **settings)  # type: ignore[arg-type]
    assert decide(post().message, found, policy) is expected


def test_decide_leaves_a_post_without_author_address_alone() -> None:
    message = post(b"From: nobody\r\n\r\nbody\r\n").message
    assert decide(message, DmarcPolicy.REJECT, LIST) is N


def test_munge_from_names_the_author_via_the_list() -> None:
    message = reparse(munge_from(decorated(), LIST))
    assert header_text(message, "From") == \
        "Alice Author via Operations Excellence <ops@example.com>"
    assert header_text(message, "X-Original-From") == "Alice Author <alice@strict.example>"
    assert addresses(message, "Reply-To") == ["alice@strict.example"]
    assert header_text(message, "Subject") == "[ops] Valves"


def test_munge_from_leaves_the_decorated_message_unchanged() -> None:
    message = decorated()
    before = render(message)
    munge_from(message, LIST)
    assert render(message) == before


@pytest.mark.parametrize(("settings", "extra", "reply_to", "cc"), [
    ({}, b"", ["alice@strict.example"], []),
    ({"dmarc_author_in": AuthorIn.CC}, b"Cc: carol@example.org\r\n", [],
     ["carol@example.org", "alice@strict.example"]),
    ({"dmarc_author_in": AuthorIn.BOTH}, b"", ["alice@strict.example"], ["alice@strict.example"]),
    # The author's own Reply-To says where replies go.
    ({}, b"Reply-To: desk@strict.example\r\n", ["desk@strict.example"], []),
    # The list's Reply-To policy keeps Reply-To; reply-all reaches the author by Cc.
    ({"reply_to": ReplyTo.LIST}, b"", ["ops@example.com"], ["alice@strict.example"]),
    ({"reply_to": ReplyTo.EXPLICIT, "reply_to_address": "desk@example.com"}, b"",
     ["desk@example.com"], ["alice@strict.example"]),
    ({"dmarc_author_in": AuthorIn.CC}, b"Cc: Alice <ALICE@strict.example>\r\n", [],
     ["alice@strict.example"]),  # not twice
])
def test_munge_from_puts_the_author_where_replies_reach_them(
        settings: dict[str, object], extra: bytes, reply_to: list[str], cc: list[str]) -> None:
    policy = dataclasses.replace(LIST, **settings)  # type: ignore[arg-type]
    message = reparse(munge_from(decorated(extra + POST, policy), policy))
    assert addresses(message, "Reply-To") == reply_to
    assert addresses(message, "Cc") == cc


@pytest.mark.parametrize("from_", [
    b"=?utf-8?q?J=C3=B6rg_M=C3=BCller?= <jorg@strict.example>",
    b"\"A \\\"quoted\\\" name\" <a@strict.example>, b@other.example",
    b"nobody",
    b"\xff\xfe <broken@strict.example>",
    b"Line\x0bbreak <a@strict.example>",
])
def test_munge_from_handles_odd_from_headers(from_: bytes) -> None:
    raw = b"From: " + from_ + b"\r\nSubject: x\r\n\r\nbody\r\n"
    message = reparse(munge_from(decorated(raw), LIST))
    assert addresses(message, "From") == ["ops@example.com"]


def test_decoration_removes_incoming_dkim_signatures_unless_kept() -> None:
    assert "DKIM-Signature" in decorated()
    removed = dataclasses.replace(LIST, dkim_keep_incoming=False)
    assert "DKIM-Signature" not in decorated(POST, removed)


def test_munge_from_drops_the_signatures_of_the_replaced_from() -> None:
    assert "DKIM-Signature" not in munge_from(decorated(), LIST)


def test_wrap_attaches_the_post_as_received() -> None:
    message = reparse(wrap(decorated(), post(), LIST))
    assert addresses(message, "From") == ["ops@example.com"]
    assert header_text(message, "Subject") == "[ops] Valves"
    assert header_text(message, "List-Id") == "Operations Excellence <ops.example.com>"
    assert addresses(message, "Reply-To") == ["alice@strict.example"]
    assert message.get_content_type() == "multipart/mixed"
    parts = list(message.iter_parts())
    assert parts[0].get_content_type() == "message/rfc822"
    (inner,) = parts[0].iter_parts()
    assert header_text(inner, "From") == "Alice Author <alice@strict.example>"
    assert header_text(inner, "Subject") == "Valves"
    assert "d=strict.example" in header_text(inner, "DKIM-Signature")
    assert "ops list" in parts[1].get_content()


@pytest.mark.parametrize("mitigation", list(DmarcMitigation))
def test_mitigate_never_raises_on_broken_mime(mitigation: DmarcMitigation) -> None:
    raw = (b"From: a@strict.example\r\nContent-Type: multipart/mixed\r\n\r\n"
           b"--x\r\n\xff\x00 broken\r\n" + b"Content-Type: multipart/mixed\r\n" * 3)
    message = mitigate(decorated(raw), post(raw), LIST, mitigation)
    assert b"ops@example.com" in render(message)


@pytest.mark.parametrize(("text", "expected"), [
    ("yahoo.com, Alice@Strict.Example", ["yahoo.com", "alice@strict.example"]),
    ("Bücher.example", ["xn--bcher-kva.example"]),
    ("", []),
])
def test_dmarc_always_takes_domains_and_addresses(text: str, expected: list[str]) -> None:
    assert LIST_SETTINGS["dmarc_always"].parse(text) == expected


@pytest.mark.parametrize("text", ["not a domain", "a@", "localhost", "^regex.*"])
def test_dmarc_always_refuses_what_is_neither(text: str) -> None:
    with pytest.raises(SettingError):
        LIST_SETTINGS["dmarc_always"].parse(text)
