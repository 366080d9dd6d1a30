# SPDX-License-Identifier: Apache-2.0
import pytest

from listserv.core.authorship import authenticated, decision_refusal, envelope_is_author
from listserv.core.message import parse_post

FRONT = "mx.example.com"
HOPS = (b"Received: from a by mx.example.com; 1 Dec 2026 10:00 +0000\r\n"
        b"Received: from b by a; 1 Dec 2026 09:59 +0000\r\n")


def reply(envelope: str, author: str = "mo@example.org", results: bytes = b"") -> bytes:
    return results + HOPS + f"From: Mo <{author}>\r\nSubject: Re: Held\r\n\r\napprove\r\n".encode()


@pytest.mark.parametrize(("envelope", "author", "same"), [
    ("mo@example.org", "mo@example.org", True),
    ("MO@Example.ORG", "mo@example.org", True),  # one mailbox, by match key
    ("eve@evil.test", "mo@example.org", False),
    ("mo+bounces@example.org", "mo@example.org", False),  # a sub-address is another mailbox
    ("", "mo@example.org", False),
    ("not an address", "mo@example.org", False),
    ("mo@example.org", "not an address", False),
])
def test_the_envelope_is_the_author_only_for_the_same_mailbox(envelope: str, author: str,
                                                              same: bool) -> None:
    assert envelope_is_author(parse_post(reply(envelope, author), envelope)) is same


def test_without_a_front_mta_a_decision_needs_the_envelope_to_be_the_from() -> None:
    forged = parse_post(reply("eve@evil.test"), "eve@evil.test")
    why = decision_refusal(forged, None, required=True)
    assert why is not None and "came from <eve@evil.test>, not mo@example.org" in why
    assert decision_refusal(parse_post(reply("mo@example.org"), "mo@example.org"), None,
                            required=True) is None
    assert decision_refusal(forged, None, required=False) is None  # the list relaxed it


@pytest.mark.parametrize(("results", "envelope", "allowed"), [
    (b"Authentication-Results: mx.example.com; dmarc=pass header.from=example.org\r\n",
     "bounce@esp.example", True),  # the front MTA's word counts, whatever the envelope
    (b"Authentication-Results: mx.example.com; dmarc=fail header.from=example.org\r\n",
     "mo@example.org", False),  # an envelope that matches proves nothing against a failure
    (b"", "mo@example.org", False),  # the front MTA said nothing
])
def test_with_a_front_mta_its_results_decide(results: bytes, envelope: str,
                                             allowed: bool) -> None:
    post = parse_post(reply(envelope, results=results), envelope)
    assert (decision_refusal(post, FRONT, required=True) is None) is allowed
    assert authenticated(post, FRONT) is allowed
    assert authenticated(post, None) is False
