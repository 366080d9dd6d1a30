# SPDX-License-Identifier: Apache-2.0
import pytest

from listserv.core.addresses import Destination, parse_address, split_recipient
from listserv.core.verp import decode, encode

ADDRESSES = [
    "alice@example.org",
    "Alice.Smith@Example.ORG",
    "alice+lists@example.org",
    "a=b@example.org",
    "a%b@example.org",
    "o'brien@example.ie",
    '"john doe"@example.org',
    '"a..b"@example.org',
    '"quote\\"inside"@example.org',
    "jörg@bücher.example",
    "x" * 64 + "@" + "long-domain." * 10 + "example.org",
]


@pytest.mark.parametrize("address", ADDRESSES)
def test_every_valid_address_survives_the_round_trip(address: str) -> None:
    bounce_address = encode("ops@example.com", address)
    recipient = split_recipient(bounce_address)
    assert recipient is not None and recipient.destination is Destination.BOUNCES
    assert recipient.list_key == "ops@example.com"
    decoded = decode(recipient.extension)
    assert decoded is not None and parse_address(decoded).key == parse_address(address).key


def test_a_plain_address_reads_as_the_qmail_and_postfix_convention() -> None:
    assert encode("ops@example.com", "alice@example.org") == \
        "ops-bounces+alice=example.org@example.com"


@pytest.mark.parametrize("extension", [
    "", "garbage", "=example.org", "alice=", "alice=not a domain", "alice=%ZZ", "a=%FF.org",
    "\udcff=example.org", "alice=example",
])
def test_garbage_after_the_plus_is_no_address(extension: str) -> None:
    assert decode(extension) is None
