# SPDX-License-Identifier: Apache-2.0
"""The DMARC lookup against a real DNS responder on loopback."""

from collections.abc import AsyncIterator

import pytest

from listserv.core.dmarc import DmarcPolicy
from listserv.core.message import parse_post
from listserv.errors import ConfigError
from listserv.outbound.dmarc import DmarcLookup
from listserv.outbound.resolver import TxtCache
from listserv.settings import load_settings
from tests.dns import Responder, start_responder

RECORDS = {
    "_dmarc.strict.example": ["v=DMARC1; p=reject; rua=mailto:d@strict.example"],
    "_dmarc.example.net": ["v=DMARC1; p=quarantine; sp=reject"],
    "_dmarc.lenient.example": ["v=DMARC1; p=none"],
    "_dmarc.sub.plain.example": ["v=DMARC1; p=none"],
    "_dmarc.plain.example": ["v=DMARC1; p=reject"],
    "_dmarc.double.example": ["v=DMARC1; p=reject", "v=DMARC1; p=none"],
    "_dmarc.broken.example": ["v=DMARC1; p=whatever"],
    "_dmarc.other.example": ["v=spf1 -all", "not dmarc"],
    "_dmarc.long.example": ["v=DMARC1; p=quarantine; rua=mailto:" + "x" * 300 + "@long.example"],
    "_dmarc.xn--bcher-kva.example": ["v=DMARC1; p=reject"],
    "_dmarc.xn--e1afmkfd.xn--p1ai": ["v=DMARC1; p=quarantine"],
}


@pytest.fixture
async def responder() -> AsyncIterator[Responder]:
    server = await start_responder(RECORDS)
    yield server
    server.close()


def lookup(responder: Responder, timeout: float = 2.0) -> DmarcLookup:
    return DmarcLookup(TxtCache(("127.0.0.1", responder.port), timeout=timeout))


@pytest.mark.parametrize(("domain", "expected"), [
    ("strict.example", DmarcPolicy.REJECT),
    ("example.net", DmarcPolicy.QUARANTINE),
    ("sub.example.net", DmarcPolicy.REJECT),  # the organisational domain's sp=
    ("deep.sub.example.net", DmarcPolicy.REJECT),
    ("lenient.example", DmarcPolicy.NONE),
    ("sub.plain.example", DmarcPolicy.NONE),  # its own record wins over the parent's
    ("nothing.example", DmarcPolicy.ABSENT),
    ("double.example", DmarcPolicy.ABSENT),  # several records: none applies
    ("broken.example", DmarcPolicy.ABSENT),
    ("other.example", DmarcPolicy.ABSENT),
    ("long.example", DmarcPolicy.QUARANTINE),  # a TXT record of several strings
    ("xn--bcher-kva.example", DmarcPolicy.REJECT),
    ("mail.xn--bcher-kva.example", DmarcPolicy.REJECT),
])
async def test_policy_of_a_domain(responder: Responder, domain: str,
                                  expected: DmarcPolicy) -> None:
    assert await lookup(responder).policy(domain) is expected


async def test_the_organisational_domain_is_asked_only_when_the_domain_has_no_record(
        responder: Responder) -> None:
    dmarc = lookup(responder)
    await dmarc.policy("sub.example.net")
    await dmarc.policy("strict.example")
    assert responder.queries == {"_dmarc.sub.example.net": 1, "_dmarc.example.net": 1,
                                 "_dmarc.strict.example": 1}


async def test_answers_are_cached_for_their_ttl(responder: Responder) -> None:
    now = [1000.0]
    dmarc = DmarcLookup(TxtCache(("127.0.0.1", responder.port), clock=lambda: now[0]))
    for _ in range(3):
        assert await dmarc.policy("strict.example") is DmarcPolicy.REJECT
        assert await dmarc.policy("nothing.example") is DmarcPolicy.ABSENT
    assert responder.queries["_dmarc.strict.example"] == 1
    assert responder.queries["_dmarc.nothing.example"] == 1
    now[0] += 301  # the responder's TTL, and the negative one, have passed
    await dmarc.policy("strict.example")
    await dmarc.policy("nothing.example")
    assert responder.queries["_dmarc.strict.example"] == 2
    assert responder.queries["_dmarc.nothing.example"] == 2


async def test_servfail_is_unknown(responder: Responder) -> None:
    responder.servfail = True
    assert await lookup(responder).policy("strict.example") is DmarcPolicy.UNKNOWN


async def test_a_timeout_is_unknown_after_the_time_allowed(responder: Responder) -> None:
    responder.silent = True
    assert await lookup(responder, timeout=0.3).policy("strict.example") is DmarcPolicy.UNKNOWN


async def test_a_failure_is_not_asked_again_for_every_post(responder: Responder) -> None:
    responder.servfail = True
    dmarc = lookup(responder)
    await dmarc.policy("strict.example")
    await dmarc.policy("strict.example")
    assert dmarc.dns.queries == 1


async def test_an_unreachable_nameserver_is_unknown() -> None:
    server = await start_responder()
    port = server.port
    server.close()
    dmarc = DmarcLookup(TxtCache(("127.0.0.1", port), timeout=0.3))
    assert await dmarc.policy("strict.example") is DmarcPolicy.UNKNOWN


@pytest.mark.parametrize(("from_", "expected"), [
    (b"a@lenient.example, b@strict.example", DmarcPolicy.REJECT),  # the strictest author
    (b"nobody", DmarcPolicy.ABSENT),
    (b"J\xc3\xb6rg <j@b\xc3\xbccher.example>", DmarcPolicy.REJECT),  # an IDN domain
    # A UTF-8 address (RFC 6532) at a subdomain: its organisational domain, in A-labels.
    ("Юрий <юрий@mail.пример.рф>".encode(), DmarcPolicy.QUARANTINE),
])
async def test_policy_of_a_message(responder: Responder, from_: bytes,
                                   expected: DmarcPolicy) -> None:
    message = parse_post(b"From: " + from_ + b"\r\nSubject: x\r\n\r\nbody\r\n").message
    assert await lookup(responder).policy_of(message) is expected


@pytest.mark.parametrize(("value", "expected"), [
    ("127.0.0.1", ("127.0.0.1", 53)),
    ("127.0.0.1:5353", ("127.0.0.1", 5353)),
    ("::1", ("::1", 53)),
    ("[::1]:5353", ("::1", 5353)),
    ("", None),
])
def test_the_nameserver_setting(monkeypatch: pytest.MonkeyPatch, value: str,
                                expected: tuple[str, int] | None) -> None:
    monkeypatch.setenv("LISTSERV_DNS_NAMESERVER", value)
    assert load_settings().dns_nameserver == expected


@pytest.mark.parametrize(("value", "error"), [
    ("dns.example", "LISTSERV_DNS_NAMESERVER: expected an IP address, optionally with :port"),
    ("127.0.0.1:99999", "LISTSERV_DNS_NAMESERVER: port out of range"),
    ("127.0.0.1:x", "LISTSERV_DNS_NAMESERVER: expected host:port"),
])
def test_a_bad_nameserver_stops_start_up_with_one_line(monkeypatch: pytest.MonkeyPatch,
                                                       value: str, error: str) -> None:
    monkeypatch.setenv("LISTSERV_DNS_NAMESERVER", value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert str(caught.value) == f"{error} (got {value!r})"
