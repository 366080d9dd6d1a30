# SPDX-License-Identifier: Apache-2.0
"""ARC end to end: listserv checks a post's DKIM signatures and ARC chain as received,
records what it found, and seals the list message after all its changes (RFC 8617)."""

from collections.abc import AsyncIterator
from email import message_from_bytes
from pathlib import Path

import dkim
import pytest

from listserv.app import App, running
from listserv.core.authresults import AuthResults, Result, parse
from listserv.outbound.signing import Key, Signer
from listserv.settings import Settings
from tests.dns import Responder, start_responder
from tests.helpers import make_message
from tests.sink import Delivered, Sink
from tests.test_post_path import list_mail, post, setup_list
from tests.test_signing import HOPS, KeyPair, arc_verifies, key_pair, make_key, verifies

__all__ = ["key_pair"]  # the module's key, a fixture

AUTHOR = "alice@upstream.example"
FRONT = "mx.example.com"


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> KeyPair:
    """The key the author's domain signs with (selector "up")."""
    return make_key(tmp_path_factory.mktemp("upstream") / "upstream.pem")


@pytest.fixture
async def responder(upstream: KeyPair) -> AsyncIterator[Responder]:
    server = await start_responder({"up._domainkey.upstream.example":
                                    [upstream.record.decode()]})
    yield server
    server.close()


@pytest.fixture
def sealing(settings: Settings, key_pair: KeyPair, responder: Responder) -> Settings:
    return settings.model_copy(update={
        "dkim_selector": "lists", "dkim_private_key": key_pair.path,
        "dns_nameserver": ("127.0.0.1", responder.port)})


@pytest.fixture
async def app(sealing: Settings) -> AsyncIterator[App]:
    async with running(sealing) as running_app:
        yield running_app


def signed_by_upstream(upstream: KeyPair, raw: bytes | None = None) -> bytes:
    raw = raw or make_message(sender=AUTHOR, subject="Valves", body="The valves leak.\n")
    return bytes(dkim.sign(raw, b"up", b"upstream.example", upstream.pem)) + raw


async def sent(app: App, sink: Sink, raw: bytes) -> Delivered:
    await setup_list(app, nonmember_action="accept")
    await post(app, raw, sender=AUTHOR)
    await app.settle()
    [delivered] = list_mail(sink)
    return delivered


def recorded(delivered: Delivered) -> AuthResults | None:
    """What the seal records (its ARC-Authentication-Results without the instance)."""
    value = " ".join(str(delivered.message["ARC-Authentication-Results"]).split())
    return parse(value.partition("; ")[2])


def b_tag(raw: bytes) -> str:
    """The first eight characters of the first DKIM signature (RFC 6008 header.b)."""
    value = "".join(str(message_from_bytes(raw)["DKIM-Signature"]).split())
    return dict(tag.split("=", 1) for tag in value.split(";") if tag)["b"][:8]


def records(key_pair: KeyPair, upstream: KeyPair) -> dict[bytes, bytes]:
    return {b"lists._domainkey.example.com": key_pair.record,
            b"up._domainkey.upstream.example": upstream.record}


async def test_a_signed_post_goes_out_sealed_with_what_listserv_found(
        app: App, sink: Sink, key_pair: KeyPair, upstream: KeyPair) -> None:
    raw = signed_by_upstream(upstream)
    delivered = await sent(app, sink, raw)
    assert recorded(delivered) == AuthResults("listserv.test", (
        Result("dkim", "pass", (("header.d", "upstream.example"), ("header.s", "up"),
                                ("header.b", b_tag(raw)))),
        Result("arc", "none")))
    assert arc_verifies(delivered.raw, records(key_pair, upstream)) == (True, "success")
    assert verifies(delivered, key_pair)
    assert delivered.message["Authentication-Results"] is None  # recorded in the seal only
    assert str(delivered.message["Subject"]) == "[ops] Valves"  # sealed after the changes


async def test_results_forged_in_listservs_name_are_dropped(
        app: App, sink: Sink, key_pair: KeyPair, upstream: KeyPair) -> None:
    forged = b"Authentication-Results: listserv.test; dkim=pass header.d=bank.example\r\n"
    delivered = await sent(app, sink, forged + make_message(sender=AUTHOR))
    assert recorded(delivered) == AuthResults("listserv.test", (Result("dkim", "none"),
                                                                Result("arc", "none")))
    assert b"bank.example" not in delivered.raw
    assert arc_verifies(delivered.raw, records(key_pair, upstream)) == (True, "success")


def verdicts(delivered: Delivered) -> list[tuple[str, str]]:
    """The methods and results the seal records."""
    found = recorded(delivered)
    assert found is not None and found.authserv_id == "listserv.test"
    return [(result.method, result.result) for result in found.results]


async def test_a_post_changed_after_signing_is_recorded_as_failing(
        app: App, sink: Sink, upstream: KeyPair) -> None:
    raw = signed_by_upstream(upstream).replace(b"The valves leak.", b"The valves are fine.")
    assert verdicts(await sent(app, sink, raw)) == [("dkim", "fail"), ("arc", "none")]


async def test_a_key_nobody_publishes_is_a_permanent_error(app: App, sink: Sink,
                                                          tmp_path: Path) -> None:
    stranger = make_key(tmp_path / "stranger.pem")
    raw = make_message(sender=AUTHOR)
    raw = bytes(dkim.sign(raw, b"gone", b"upstream.example", stranger.pem)) + raw
    assert verdicts(await sent(app, sink, raw)) == [("dkim", "permerror"), ("arc", "none")]


async def test_a_failed_key_lookup_is_a_temporary_error_and_the_post_still_goes_out(
        app: App, sink: Sink, upstream: KeyPair, responder: Responder) -> None:
    responder.servfail = True
    delivered = await sent(app, sink, signed_by_upstream(upstream))
    assert verdicts(delivered) == [("dkim", "temperror"), ("arc", "none")]


async def test_an_arc_chain_that_verifies_is_extended(
        app: App, sink: Sink, key_pair: KeyPair, upstream: KeyPair) -> None:
    forwarder = Signer({}, Key(b"up", upstream.pem), seal_as="mx.upstream.example")
    forwarded = forwarder.sign(b"Authentication-Results: mx.upstream.example; dkim=none; "
                               b"arc=none\r\n" + make_message(sender=AUTHOR),
                               "fwd@upstream.example")
    delivered = await sent(app, sink, HOPS + forwarded)
    assert verdicts(delivered) == [("dkim", "pass"), ("arc", "pass")]
    assert delivered.message["ARC-Seal"].startswith("i=2;")
    assert arc_verifies(delivered.raw, records(key_pair, upstream)) == (True, "success")


@pytest.mark.parametrize("broken", [
    b"ARC-Seal: i=1; a=rsa-sha256; cv=none; d=upstream.example; s=up; b=bm90IGEgc2ln\r\n",
    b"ARC-Seal: garbage\r\nARC-Message-Signature: i=7; nonsense\r\n",
])
async def test_a_broken_arc_chain_fails_and_a_new_chain_is_sealed(
        app: App, sink: Sink, key_pair: KeyPair, upstream: KeyPair, broken: bytes) -> None:
    delivered = await sent(app, sink, broken + make_message(sender=AUTHOR))
    assert verdicts(delivered) == [("dkim", "none"), ("arc", "fail")]
    assert verifies(delivered, key_pair)


async def test_behind_a_trusted_front_mta_its_spf_and_dmarc_results_are_carried_over(
        sealing: Settings, sink: Sink, key_pair: KeyPair, upstream: KeyPair) -> None:
    raw = (f"Authentication-Results: {FRONT}; spf=pass smtp.mailfrom=upstream.example;\r\n"
           " dmarc=pass header.from=upstream.example; dkim=pass header.d=upstream.example\r\n"
           ).encode() + HOPS + signed_by_upstream(upstream)
    async with running(sealing.model_copy(update={"trusted_authserv_id": FRONT})) as app:
        delivered = await sent(app, sink, raw)
    assert verdicts(delivered) == [("dkim", "pass"), ("arc", "none"), ("spf", "pass"),
                                   ("dmarc", "pass")]
    assert arc_verifies(delivered.raw, records(key_pair, upstream)) == (True, "success")
    assert delivered.message.get_all("Authentication-Results") == [  # the front MTA's stays
        f"{FRONT}; spf=pass smtp.mailfrom=upstream.example; "
        "dmarc=pass header.from=upstream.example; dkim=pass header.d=upstream.example"]


async def test_only_the_topmost_signatures_are_checked(
        app: App, sink: Sink, responder: Responder, upstream: KeyPair) -> None:
    # Each costs a DNS lookup and a hash of the whole body: 100 KB of header holds 170 (#14.2).
    raw = signed_by_upstream(upstream)
    forged = b"".join(b"DKIM-Signature: v=1; a=rsa-sha256; d=d%d.example; s=s; h=from; "
                      b"bh=AAAA; b=BBBB\r\n" % n for n in range(30))
    delivered = await sent(app, sink, raw[:raw.index(b"From:")] + forged
                           + raw[raw.index(b"From:"):])
    found = recorded(delivered)
    assert found is not None
    assert [result.method for result in found.results] == ["dkim"] * 5 + ["arc"]
    assert found.results[0].result == "pass"  # the author's, topmost
    assert {result.result for result in found.results[1:5]} == {"permerror"}
    assert sorted(name for name in responder.queries if name.startswith("s._domainkey.d")) \
        == [f"s._domainkey.d{n}.example" for n in range(4)]
