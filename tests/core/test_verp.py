# SPDX-License-Identifier: Apache-2.0
import re

import pytest

from listserv.core.addresses import Destination, parse_address, split_recipient
from listserv.core.verp import Verp, decode, sender, tag, verifies

KEY = b"k" * 32
LIST_ID = 7
BOUNCES = "ops-bounces@example.com"
ADDRESSES = [
    "alice@example.org",
    "Alice.Smith@Example.ORG",
    "alice+lists@example.org",
    "a=b@example.org",
    "a+b=c+d@example.org",
    "a%b@example.org",
    "o'brien@example.ie",
    '"john doe"@example.org',
    '"a..b"@example.org',
    '"quote\\"inside"@example.org',
    "jörg@bücher.example",
    "x" * 64 + "@" + "long-domain." * 10 + "example.org",
]


def read_back(address: str) -> Verp:
    """What listserv reads from mail to this address, as the listener splits it."""
    recipient = split_recipient(address)
    assert recipient is not None and recipient.destination is Destination.BOUNCES
    assert recipient.list_key == "ops@example.com"
    found = decode(recipient.extension)
    assert found is not None
    return found


@pytest.mark.parametrize("address", ADDRESSES)
def test_every_valid_address_survives_the_round_trip_and_its_tag_verifies(address: str) -> None:
    made = sender(BOUNCES, address, KEY, LIST_ID)
    assert made is not None
    found = read_back(made)
    assert parse_address(found.address).key == parse_address(address).key
    assert verifies(found, KEY, LIST_ID)


def test_a_plain_address_reads_as_the_qmail_and_postfix_convention_and_a_tag() -> None:
    made = sender(BOUNCES, "alice@example.org", KEY, LIST_ID)
    signature = tag(KEY, LIST_ID, "alice@example.org")
    assert made == f"ops-bounces+alice=example.org+{signature}@example.com"
    assert re.fullmatch(r"[a-z2-7]{10}", signature)


@pytest.mark.parametrize(("member", "written"), [
    ("jürgen@müller.example", "+j%C3%BCrgen=xn--mller-kva.example+"),
    ("ops@пример.рф", "+ops=xn--e1afmkfd.xn--p1ai+"),
])
def test_a_utf8_members_verp_address_is_ascii_and_names_the_member_in_unicode(
        member: str, written: str) -> None:
    made = sender(BOUNCES, member, KEY, LIST_ID)
    assert made is not None and made.isascii() and written in made
    found = read_back(made)
    assert found.address == member and verifies(found, KEY, LIST_ID)


def test_the_tag_is_of_the_member_the_list_and_the_key() -> None:
    found = read_back(sender(BOUNCES, "alice@example.org", KEY, LIST_ID) or "")
    assert not verifies(found, KEY, LIST_ID + 1)
    assert not verifies(found, b"x" * 32, LIST_ID)
    assert not verifies(Verp("bob@example.org", found.tag), KEY, LIST_ID)
    assert not verifies(Verp(found.address, ""), KEY, LIST_ID)


def test_the_tag_survives_a_mail_system_that_changes_the_case_of_the_address() -> None:
    made = sender(BOUNCES, "Alice@Example.org", KEY, LIST_ID) or ""
    assert verifies(read_back(made.upper()), KEY, LIST_ID)
    assert verifies(read_back(made.lower()), KEY, LIST_ID)


def test_a_probes_tag_is_its_own() -> None:
    made = sender(BOUNCES, "alice@example.org", KEY, LIST_ID, probe=3) or ""
    found = read_back(made)
    assert verifies(found, KEY, LIST_ID, probe=3)
    assert not verifies(found, KEY, LIST_ID)
    assert not verifies(found, KEY, LIST_ID, probe=4)


def test_an_unsigned_verp_address_names_its_member_with_no_tag() -> None:
    found = read_back("ops-bounces+alice=example.org@example.com")
    assert found == Verp("alice@example.org", "")
    assert not verifies(found, KEY, LIST_ID)


def test_no_address_longer_than_an_envelope_may_be_is_made() -> None:
    longest = "x" * 64 + "@" + "a" * 60 + "." + "b" * 60 + "." + "c" * 60 + ".org"
    assert parse_address(longest)
    assert sender(BOUNCES, longest, KEY, LIST_ID) is None
    assert sender(BOUNCES, "not an address", KEY, LIST_ID) is None


@pytest.mark.parametrize("extension", [
    "", "garbage", "=example.org", "alice=", "alice=not a domain", "alice=%ZZ", "a=%FF.org",
    "\udcff=example.org", "alice=example", "alice=+tag", "=+tag",
])
def test_garbage_after_the_plus_is_no_address(extension: str) -> None:
    assert decode(extension) is None
