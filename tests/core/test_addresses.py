# SPDX-License-Identifier: Apache-2.0
import pytest

from listserv.core.addresses import (
    Destination,
    Recipient,
    check_list_address,
    needs_smtputf8,
    normalise,
    parse_address,
    parse_mailbox,
    shown,
    smtp_form,
    split_recipient,
)
from listserv.core.recipients import chunk
from listserv.errors import InvalidAddress


@pytest.mark.parametrize("address", [
    "alice@example.org",
    "Alice.Example+lists@Example.ORG",
    "o'brien@example.ie",
    '"john doe"@example.com',
    "jörg@bücher.de",
    "x@sub.domain.example.co.uk",
    "a=b@example.com",
])
def test_valid_addresses_parse(address: str) -> None:
    assert str(parse_address(address)).lower() == address.lower()


@pytest.mark.parametrize("address", [
    "", "alice", "@example.org", "alice@", "alice@localhost", "alice@example.123",
    "al ice@example.org", "alice..x@example.org", ".alice@example.org", "alice@exa_mple.org",
    "alice@-example.org", "a@b@example.org", "alice@[127.0.0.1]", "x" * 65 + "@example.org",
    "alice@" + "a" * 64 + ".org", "al\x00ice@example.org", "alice\x7f@example.org",
    '"al\x00ice"@example.org', '"al\\\x01ice"@example.org',
])
def test_invalid_addresses_are_refused(address: str) -> None:
    with pytest.raises(InvalidAddress):
        parse_address(address)


@pytest.mark.parametrize(("one", "other"), [
    ("Alice@Example.ORG", "alice@example.org"),
    ('"alice"@example.org', "alice@example.org"),
    ("jörg@BÜCHER.de", "jörg@xn--bcher-kva.de"),
    ("alice@example.org.", "alice@example.org"),
])
def test_addresses_match_ignoring_case_quotes_and_idna(one: str, other: str) -> None:
    assert normalise(one) == normalise(other)


@pytest.mark.parametrize(("written", "stored", "key"), [
    ("jürgen@müller.example", "jürgen@müller.example", "jürgen@xn--mller-kva.example"),
    ("jürgen@xn--mller-kva.example", "jürgen@müller.example", "jürgen@xn--mller-kva.example"),
    ("Jürgen@MÜLLER.Example", "Jürgen@müller.example", "jürgen@xn--mller-kva.example"),
    ("ju\u0308rgen@müller.example", "jürgen@müller.example", "jürgen@xn--mller-kva.example"),
    ("ops@xn--e1afmkfd.xn--p1ai", "ops@пример.рф", "ops@xn--e1afmkfd.xn--p1ai"),
    ("OPS@ПРИМЕР.РФ", "OPS@пример.рф", "ops@xn--e1afmkfd.xn--p1ai"),
])
def test_an_address_is_kept_in_nfc_with_u_labels_and_matched_by_a_labels(
        written: str, stored: str, key: str) -> None:
    mailbox = parse_address(written)
    assert (str(mailbox), mailbox.key) == (stored, key)


def test_a_list_key_in_a_labels_is_shown_in_u_labels() -> None:
    assert shown("ops@xn--e1afmkfd.xn--p1ai") == "ops@пример.рф"
    assert shown("not an address") == "not an address"


def test_sub_addresses_are_distinct_members() -> None:
    assert normalise("alice+lists@example.org") != normalise("alice@example.org")


def test_display_name_form_is_understood() -> None:
    name, mailbox = parse_mailbox("Alice Example <alice@example.org>")
    assert (name, str(mailbox)) == ("Alice Example", "alice@example.org")


@pytest.mark.parametrize(("address", "expected"), [
    ("ops@example.com", Recipient("ops@example.com", Destination.POST)),
    ("OPS@Example.COM", Recipient("ops@example.com", Destination.POST)),
    ("ops-request@example.com", Recipient("ops@example.com", Destination.REQUEST)),
    ("ops-owner@example.com", Recipient("ops@example.com", Destination.OWNER)),
    ("ops-join@example.com", Recipient("ops@example.com", Destination.JOIN)),
    ("ops-subscribe@example.com", Recipient("ops@example.com", Destination.JOIN)),
    ("ops-leave@example.com", Recipient("ops@example.com", Destination.LEAVE)),
    ("ops-unsubscribe@example.com", Recipient("ops@example.com", Destination.LEAVE)),
    ("ops-bounces@example.com", Recipient("ops@example.com", Destination.BOUNCES)),
    ("ops-bounces+alice=example.org@example.com",
     Recipient("ops@example.com", Destination.BOUNCES, "alice=example.org")),
    ("ops-confirm+AbC123@example.com", Recipient("ops@example.com", Destination.CONFIRM, "AbC123")),
    ("site-ops-request@example.com", Recipient("site-ops@example.com", Destination.REQUEST)),
    ("ops+tag@example.com", None),
    ("ops-request+x@example.com", None),
    ("-request@example.com", Recipient("-request@example.com", Destination.POST)),
    ("not an address", None),
])
def test_split_recipient(address: str, expected: Recipient | None) -> None:
    assert split_recipient(address) == expected


@pytest.mark.parametrize("address", [
    "ops-request@example.com", "ops-bounces@example.com", "ops+x@example.com",
    '"o p s"@example.com',
])
def test_list_addresses_cannot_shadow_sub_addresses(address: str) -> None:
    with pytest.raises(InvalidAddress):
        check_list_address(address)


@pytest.mark.parametrize(("address", "sent_as", "utf8"), [
    ("alice@example.org", "alice@example.org", False),
    ("bob@Bücher.example", "bob@xn--bcher-kva.example", False),  # an A-label needs no SMTPUTF8
    ("jürgen@müller.example", "jürgen@xn--mller-kva.example", True),
    ("jürgen@example.org", "jürgen@example.org", True),
    ("not an address", "not an address", False),
])
def test_smtp_carries_an_idn_domain_in_a_labels_and_only_utf8_local_parts_need_smtputf8(
        address: str, sent_as: str, utf8: bool) -> None:
    assert smtp_form(address) == sent_as
    assert needs_smtputf8(address) is utf8


@pytest.mark.parametrize(("recipients", "size", "transactions"), [
    ([], 2, []),
    (["a@x.org", "b@x.org", "c@x.org"], 2, [["a@x.org", "b@x.org"], ["c@x.org"]]),
    (["a@x.org", "ü@x.org", "b@ü.org", "é@x.org"], 10,
     [["a@x.org", "b@ü.org"], ["ü@x.org", "é@x.org"]]),
    (["ü@x.org", "a@x.org", "é@x.org", "ö@x.org"], 2,
     [["a@x.org"], ["ü@x.org", "é@x.org"], ["ö@x.org"]]),
])
def test_transactions_keep_addresses_that_need_smtputf8_apart(
        recipients: list[str], size: int, transactions: list[list[str]]) -> None:
    assert chunk(recipients, size) == transactions
