# SPDX-License-Identifier: Apache-2.0
"""Header sections read in linear time, and the limits intake puts on them (#14.2).

The linearity tests assert on what the email package's quadratic header model
is given (it must never see more than MAX_PARSED characters of a value) and
on the shape of the output, never on the clock.
"""

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime
from email.headerregistry import HeaderRegistry
from email.message import EmailMessage, Message
from email.policy import default
from typing import Any

import pytest

from listserv.core.decoration import decorate, render
from listserv.core.dmarc import munge_from
from listserv.core.headers import (
    MAX_PARSED,
    HeaderLimits,
    HeaderProblem,
    addresses_in,
    decoded_value,
    header_section_problem,
)
from listserv.core.message import address_keys, header_addresses, header_text, parse_post
from listserv.core.pipeline import Distribute, process
from listserv.core.policy import AuthorIn, ListPolicy, SenderStatus, Subscriber
from listserv.core.recipients import audience, regular_recipients
from listserv.core.rules import Facts

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
LIST = ListPolicy(address="ops@example.com", subject_prefix="[ops]", footer="Ops list",
                  require_explicit_destination=False, dmarc_author_in=AuthorIn.BOTH)
MEMBER = Facts(SenderStatus("alice@example.org", is_member=True))


# -- reading values ----------------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "text"), [
    ("Valves", "Valves"),
    ("  folded\r\n\tacross\r\n  lines  ", "folded across lines"),
    ("=?utf-8?q?Caf=C3=A9?=", "Café"),
    ("=?UTF-8?B?Q2Fmw6k=?=", "Café"),
    ("=?utf-8?b?Q2Fmw6k?=", "Café"),  # padding left out
    ("=?iso-8859-1?q?Caf=E9_au_lait?=", "Café au lait"),
    ("=?utf-8*fr?q?Caf=C3=A9?=", "Café"),  # RFC 2231 language
    ("=?utf-8?q?a?= =?utf-8?q?b?=\r\n =?utf-8?q?c?=", "abc"),  # RFC 2047 6.2
    ("=?utf-8?q?Re:?= Valves =?utf-8?q?ok?=", "Re: Valves ok"),
    ("x=?utf-8?q?y?=z", "xyz"),
    ("=?bogus-charset?q?x?=", "x"),
    ("=?rot13?q?x?=", "x"),
    ("=?utf-8?b?!!!?=", "=?utf-8?b?!!!?="),
    ("=?utf-8?q?=FF?=", "\ufffd"),
    ("Caf\udcc3\udca9 \udcff", "Café \ufffd"),  # raw octets, as the parser keeps them
    ("", ""),
])
def test_values_are_decoded_as_a_mail_reader_shows_them(raw: str, text: str) -> None:
    assert decoded_value(raw) == text


def test_a_value_is_read_no_further_than_the_limit() -> None:
    assert decoded_value("word " * 100, limit=20) == "word word word word"


@pytest.mark.parametrize(("values", "pairs"), [
    (["Alice <alice@example.org>, bob@example.org"],
     [("Alice", "alice@example.org"), ("", "bob@example.org")]),
    (["=?utf-8?q?Doe=2C_John?= <john@example.org>"], [("Doe, John", "john@example.org")]),
    (['"Smith, Ann" <ann@example.org>'], [("Smith, Ann", "ann@example.org")]),
    (["a@example.org", "b@example.org"], [("", "a@example.org"), ("", "b@example.org")]),
    (["(" * 5000 + "x@example.org"], []),  # nesting the address parser cannot recurse into
])
def test_addresses_are_split_before_their_names_are_decoded(
        values: list[str], pairs: list[tuple[str, str]]) -> None:
    assert addresses_in(values) == pairs


def test_headers_code_set_are_read_as_set() -> None:
    message = EmailMessage(policy=default)
    message["Subject"] = "Café"
    message["To"] = '"Doe, John" <john@example.org>'
    assert header_text(message, "Subject") == "Café"
    assert header_addresses(message, "To") == [("Doe, John", "john@example.org")]


# -- linear time -------------------------------------------------------------------------------

@pytest.fixture
def parsed_lengths(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """The length of every value handed to the email package's header model.

    The model's cost grows with the square of a value's length (CPython
    gh-136063): on the code before #14.2 a 900 KB Subject held the server for
    25 s. The value is parsed no further than MAX_PARSED all the same, so that a
    failing test fails fast (the code swallows exceptions from the model, so an
    assertion here would not stop it).
    """
    lengths: list[int] = []
    call = HeaderRegistry.__call__

    def recording(self: HeaderRegistry, name: str, value: Any) -> Any:
        if isinstance(value, str):
            lengths.append(len(value))
            value = value[:MAX_PARSED]
        return call(self, name, value)

    monkeypatch.setattr(HeaderRegistry, "__call__", recording)
    yield lengths


def folded(words: list[str], width: int = 76) -> str:
    lines, line = [], ""
    for word in words:
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = ""
        line = f"{line} {word}"
    return "\r\n".join([*lines, line])


BOMBS = {
    # The report of #14.2: 900 lines of 990 characters.
    "folded subject": "Subject: start\r\n" + "\r\n".join(" " + "x" * 989 for _ in range(900)),
    "encoded words": "Subject:" + folded(["=?utf-8?q?Caf=C3=A9?="] * 20_000),
    "words": "Subject:" + folded(["word"] * 50_000),
    "quoted pairs": "Subject:" + folded(['"' + "a\\" * 10] * 5_000),
    "author": "From:" + folded(["=?utf-8?q?Al=C3=AFce?="] * 20_000) + " <alice@example.org>",
    "addresses": "To: ops@example.com," + folded([f'"M {i}" <m{i}@example.net>,'
                                                   for i in range(5_000)]),
    "content type": "MIME-Version: 1.0\r\nContent-Type: text/plain" + ";" * 50_000,
}


def bomb(field: str) -> bytes:
    head = {"From": "From: Alice <alice@example.org>", "To": "To: ops@example.com",
            "Subject": "Subject: bomb"}
    for name in head:
        if field.startswith(f"{name}:"):
            head[name] = field
    if not any(field.startswith(f"{name}:") for name in head):
        head["Other"] = field
    return ("\r\n".join(head.values()) + "\r\nMessage-ID: <bomb@example.org>\r\n\r\n"
            "Hello.\r\n").encode()


@pytest.mark.parametrize("name", BOMBS)
def test_a_header_bomb_is_read_decorated_and_written_without_parsing_it_whole(
        name: str, parsed_lengths: list[int]) -> None:
    raw = bomb(BOMBS[name])
    post = parse_post(raw, "alice@example.org", "ops@example.com")
    outcome = process(post, LIST, MEMBER, message_id="<new@ops.example.com>", now=NOW,
                      html_to_text=str)
    assert isinstance(outcome, Distribute)
    assert regular_recipients([Subscriber("bob@example.org", "bob@example.org")],
                              audience(post)) \
        == ["bob@example.org"]
    output = render(outcome.message)
    for message in (outcome.message, munge_from(outcome.message, LIST),
                    parse_post(output).message):
        render(message)
        header_text(message, "Subject")
        address_keys(message, "To", "Cc")
    assert 0 < max(parsed_lengths) <= MAX_PARSED


def test_many_header_fields_are_rewritten_in_one_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    """Deleting a field is a pass over all of them; one per distinct name is quadratic: 10,000
    names (90 KB, under the intake limit) and a line to fold took 4.7 s (#14.2)."""
    deletions: list[str] = []
    delete = Message.__delitem__

    def counting(self: Message, name: str) -> None:
        deletions.append(name)
        delete(self, name)

    monkeypatch.setattr(Message, "__delitem__", counting)
    fields = "".join(f"X-{n}: a\r\n" for n in range(3000))
    raw = (f"From: alice@example.org\r\nSubject: s\r\nLong: {'y' * 1200}\r\n"
           f"Content-Type: text/html\r\n{fields}\r\n<p>Hello.</p>\r\n").encode()
    output = render(decorate(parse_post(raw), LIST, message_id="<n@x>", now=NOW))
    assert len(deletions) < 100  # the list's own few, not one per field
    names = [line.partition(b":")[0] for line in head_lines(output)]
    assert [name for name in names if name[2:].isdigit()] == [
        f"X-{n}".encode() for n in range(3000)]  # every field kept, in order
    assert all(len(line) <= 998 for line in output.split(b"\r\n"))


def head_lines(raw: bytes) -> list[bytes]:
    return raw.partition(b"\r\n\r\n")[0].split(b"\r\n")


def test_a_long_subject_goes_out_as_received_behind_the_prefix() -> None:
    raw = bomb(BOMBS["folded subject"])
    output = render(decorate(parse_post(raw), LIST, message_id="<n@x>", now=NOW))
    subject = [line for line in head_lines(raw) if line.startswith((b"Subject", b" x"))]
    written = [line for line in head_lines(output) if line.startswith((b"Subject", b" x"))]
    # Not decoded, re-encoded and refolded into thousands of encoded words: the same
    # 901 lines, the first with the prefix.
    assert written == [b"Subject: [ops] start", *subject[1:]]
    assert b"=?" not in output


@pytest.mark.parametrize(("subject", "prefix"), [
    ("Valves", "[ops]"),
    ("=?utf-8?q?Caf=C3=A9?=", "[ops]"),
    ("Valves", "[\u00d6l]"),
    ("=?utf-8?q?Caf=C3=A9?=", "[\u00d6l]"),
    ("Re: =?utf-8?q?Caf=C3=A9?=\r\n =?utf-8?q?_au_lait?=", "[ops]"),
])
def test_the_prefix_is_put_in_front_of_the_subject_as_received(subject: str, prefix: str) -> None:
    raw = f"From: alice@example.org\r\nSubject: {subject}\r\n\r\nHello.\r\n".encode()
    output = render(decorate(parse_post(raw), dataclasses.replace(LIST, subject_prefix=prefix),
                             message_id="<n@x>", now=NOW))
    assert f"Subject: {subject}\r\n".encode() not in output
    assert f" {subject}\r\n".encode() in output  # after the prefix, octet for octet
    assert header_text(parse_post(output).message, "Subject") == \
        f"{prefix} {decoded_value(subject)}"


# -- the limits at intake ----------------------------------------------------------------------

LIMITS = HeaderLimits(max_size=1000, max_addresses=10)


@pytest.mark.parametrize(("raw", "problem"), [
    (b"From: a@example.org\r\nSubject: x\r\n\r\n" + b"body " * 10_000, None),
    (b"Subject: " + b"x" * 980 + b"\r\n\r\nbody", None),
    (b"Subject: " + b"x" * 990 + b"\r\n\r\nbody", HeaderProblem.TOO_BIG),
    (b"Subject: x\r\n" + b" folded\r\n" * 200 + b"\r\nbody", HeaderProblem.TOO_BIG),
    (b"Subject: x\n" + b"X: y\n" * 300, HeaderProblem.TOO_BIG),  # no body, LF line ends
    (b"Subject: " + b"x" * 5000, HeaderProblem.TOO_BIG),  # no line end at all
    (b"To: " + b"a@b, " * 10 + b"\r\n\r\n", None),
    (b"To: " + b"a@b, " * 11 + b"\r\n\r\n", HeaderProblem.TOO_MANY_ADDRESSES),
    (b"To: " + b"a@b, " * 6 + b"\r\nCC: " + b"a@b, " * 5 + b"\r\n\r\n",
     HeaderProblem.TOO_MANY_ADDRESSES),
    (b"To: a@b,\r\n" + b" a@b,\r\n" * 10 + b"\r\n", HeaderProblem.TOO_MANY_ADDRESSES),
    (b"Resent-Bcc: " + b"a@b " * 11 + b"\r\n\r\n", HeaderProblem.TOO_MANY_ADDRESSES),
    (b"Message-ID: <" + b"a@b" * 11 + b">\r\nReferences: " + b"<a@b> " * 11 + b"\r\n\r\n",
     None),  # not an address field
    (b"Subject: x\r\n\r\nTo: " + b"a@b, " * 11, None),  # in the body
    (b"", None),
])
def test_the_header_section_is_measured_up_to_the_empty_line(
        raw: bytes, problem: HeaderProblem | None) -> None:
    assert header_section_problem(raw, LIMITS) == problem


def test_no_limits_means_none() -> None:
    raw = b"To: " + b"a@b, " * 100_000 + b"\r\n\r\n"
    assert header_section_problem(raw, HeaderLimits()) is None
