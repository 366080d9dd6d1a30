# SPDX-License-Identifier: Apache-2.0
"""The smarthost client against real SMTP servers: results per recipient, TLS and AUTH."""

import asyncio
import ssl
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

from listserv.core.refusals import Stage
from listserv.outbound.delivery import NETWORK_FAILURE, Smarthost
from listserv.outbound.pipelining import Session
from listserv.settings import Settings
from tests.helpers import make_message
from tests.sink import Sink, start_sink


def smarthost(port: int, **settings: Any) -> Smarthost:
    return Smarthost(Settings(smarthost=("127.0.0.1", port), hostname="listserv.test",
                              **settings))


@pytest.mark.parametrize("pipelining", [True, False])
async def test_each_recipient_gets_its_own_result(pipelining: bool) -> None:
    sink, server = await start_sink(pipelining=pipelining)
    client = smarthost(sink.port)
    results = await client.send("ops-bounces@example.com",
                                ["alice@example.org", "reject-me@example.org",
                                 "tempfail-me@example.org"], make_message())
    await client.close()
    server.close()
    assert [(r.recipient, r.code, r.delivered, r.temporary) for r in results] == [
        ("alice@example.org", 250, True, False),
        ("reject-me@example.org", 550, False, False),
        ("tempfail-me@example.org", 451, False, True)]
    assert sink.recipients() == ["alice@example.org"]


@pytest.mark.parametrize("pipelining", [True, False])
async def test_a_transaction_nobody_accepts_sends_no_data_and_the_session_goes_on(
        pipelining: bool) -> None:
    sink, server = await start_sink(pipelining=pipelining)
    client = smarthost(sink.port)
    refused = await client.send("ops-bounces@example.com", ["reject-a@example.org"],
                                make_message())
    accepted = await client.send("ops-bounces@example.com", ["bob@example.org"],
                                 make_message(body=".starts with a dot\n..two\n"))
    await client.close()
    server.close()
    assert [r.code for r in refused] == [550]
    assert [r.code for r in accepted] == [250]
    [delivered] = sink.delivered
    assert b"\r\n.starts with a dot\r\n..two\r\n" in delivered.raw  # dot-stuffing undone


@pytest.mark.parametrize("pipelining", [True, False])
async def test_the_end_of_data_waits_for_what_the_caller_holds_it_for(pipelining: bool) -> None:
    """The copy before must be recorded before this one is taken (#14.9): the smarthost has
    the whole message but its end, and takes it only once the wait is over."""
    sink, server = await start_sink(pipelining=pipelining)
    client = smarthost(sink.port)
    recorded: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    sending = asyncio.create_task(client.send("ops-bounces@example.com", ["bob@example.org"],
                                              make_message(), recorded))
    await asyncio.sleep(0.2)
    assert (sink.delivered, sending.done()) == ([], False)
    recorded.set_result(None)
    assert [r.code for r in await sending] == [250]
    await client.close()
    server.close()
    assert sink.recipients() == ["bob@example.org"]


async def test_when_the_wait_fails_the_message_is_not_taken_and_the_next_goes_out(
        sink: Sink) -> None:
    client = smarthost(sink.port)
    recorded: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    recorded.set_exception(RuntimeError("the database went away"))
    with pytest.raises(RuntimeError):
        await client.send("ops-bounces@example.com", ["bob@example.org"], make_message(),
                          recorded)
    accepted = await client.send("ops-bounces@example.com", ["carol@example.org"],
                                 make_message())  # on a new connection
    await client.close()
    assert [r.code for r in accepted] == [250]
    assert sink.recipients() == ["carol@example.org"]


async def test_all_refused_and_connection_trouble_are_results_not_exceptions(
        sink: Sink) -> None:
    client = smarthost(sink.port)
    results = await client.send("ops-bounces@example.com", ["reject-a@example.org",
                                                            "drop-b@example.org"], make_message())
    # The transaction broke off: every recipient is retried, none given up on.
    assert [(r.code, r.temporary) for r in results] == [(NETWORK_FAILURE, True)] * 2
    results = await client.send("ops-bounces@example.com", ["alice@example.org"], make_message())
    assert results[0].delivered  # a dropped connection is reopened
    await client.close()
    unused = smarthost(1)
    [refused] = await unused.send("ops-bounces@example.com", ["alice@example.org"], b"x")
    assert (refused.code, refused.temporary) == (NETWORK_FAILURE, True)


@pytest.mark.parametrize("pipelining", [True, False])
async def test_a_refusal_at_data_is_about_the_message_not_the_recipients(
        pipelining: bool) -> None:
    sink, server = await start_sink(pipelining=pipelining)
    sink.data_fault = lambda message: "554 5.6.0 Transaction failed"
    client = smarthost(sink.port)
    results = await client.send("ops-bounces@example.com",
                                ["alice@example.org", "reject-me@example.org"], make_message())
    await client.close()
    server.close()
    assert [(r.code, r.stage) for r in results] == [(554, Stage.MESSAGE), (550, Stage.RCPT)]


@pytest.mark.parametrize("smtputf8", [True, False])
async def test_an_address_that_needs_smtputf8_goes_only_where_it_is_offered(
        smtputf8: bool) -> None:
    sink, server = await start_sink(smtputf8=smtputf8)
    client = smarthost(sink.port)
    utf8 = await client.send("ops-bounces@example.com", ["jürgen@müller.example"],
                             make_message())
    mixed = await client.send("ops-bounces@example.com",
                              ["bob@bücher.example", "jörg@example.org"], make_message())
    await client.close()
    server.close()
    if smtputf8:
        assert [r.code for r in utf8 + mixed] == [250, 250, 250]
        assert [(d.smtputf8, d.recipients) for d in sink.delivered] == [
            (True, ["jürgen@xn--mller-kva.example"]),
            (True, ["bob@xn--bcher-kva.example", "jörg@example.org"])]
    else:  # never offered: the others go as usual
        assert [r.code for r in utf8 + mixed] == [553, 250, 553]
        assert {r.stage for r in utf8 + mixed if not r.delivered} == {Stage.UNOFFERED}
        assert [(d.smtputf8, d.recipients) for d in sink.delivered] == [
            (False, ["bob@xn--bcher-kva.example"])]


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


async def test_starttls_with_a_private_ca_and_auth(ca: trustme.CA, tmp_path: Path) -> None:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    logins: list[tuple[bytes, bytes]] = []

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str,
                      data: Any) -> AuthResult:
        assert isinstance(data, LoginPassword)
        logins.append((data.login, data.password))
        return AuthResult(success=data.password == b"s3cret")

    recorder = Sink()
    server = await asyncio.get_running_loop().create_server(
        lambda: SMTP(recorder, hostname="smarthost.test", tls_context=context,
                     require_starttls=True, authenticator=authenticator, auth_required=True),
        "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = smarthost(port, smarthost_tls="starttls", smarthost_ca_file=ca_file,
                       smarthost_username="listserv", smarthost_password="s3cret")
    [result] = await client.send("ops-bounces@example.com", ["alice@example.org"],
                                 make_message())
    await client.close()
    server.close()
    assert result.delivered, result
    assert logins == [(b"listserv", b"s3cret")]
    assert recorder.recipients() == ["alice@example.org"]


async def test_an_untrusted_certificate_is_a_temporary_failure(ca: trustme.CA) -> None:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    server = await asyncio.get_running_loop().create_server(
        lambda: SMTP(Sink(), hostname="smarthost.test", tls_context=context,
                     require_starttls=True), "127.0.0.1", 0)
    client = smarthost(server.sockets[0].getsockname()[1], smarthost_tls="starttls")
    [result] = await client.send("ops-bounces@example.com", ["alice@example.org"],
                                 make_message())
    await client.close()
    server.close()
    assert result.temporary  # kept for a retry, never dropped


async def _scripted_smarthost(replies: list[tuple[float, bytes]], *, then_silent: bool = False
                              ) -> tuple[asyncio.Server, int]:
    """A server that reads the pipelined commands up to DATA, then writes each piece of
    replies after its pause; then it answers the end of the message with 250, or says
    nothing more until the client goes."""
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while (await reader.readline()).strip() != b"DATA":
                pass
            for pause, piece in replies:
                await asyncio.sleep(pause)
                writer.write(piece)
            while (line := await reader.readline()) not in (b".\r\n", b""):
                pass
            if line and not then_silent:
                writer.write(b"250 2.0.0 queued\r\n")
                await writer.drain()
            await reader.read()
        finally:
            writer.close()
    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def _pipelined(port: int, timeout: float) -> list[tuple[int, str, Stage]]:
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    session = Session(writer.transport, pipelining=True, size=False,  # type: ignore[arg-type]
                      eight_bit=False, timeout=timeout)
    try:
        replies = await session.transaction("list-bounces@example.com",
                                            ["a@example.org", "b@example.org"], make_message())
    finally:
        writer.transport.abort()
    return [(reply.code, reply.text, stage) for reply, stage in replies]


async def test_pipelined_replies_split_anywhere_and_multiline_are_read_in_order() -> None:
    server, port = await _scripted_smarthost([
        (0, b"250 2.1.0 ok\r\n250-2.1.5 first"), (0.05, b" line\r\n250 2.1.5 sec"),
        (0.05, b"ond line\r\n550 5.1.1 no such user\r\n35"), (0.05, b"4 go on\r\n")])
    async with server:
        results = await _pipelined(port, timeout=5)
    assert results == [(250, "2.0.0 queued", Stage.MESSAGE),
                       (550, "5.1.1 no such user", Stage.RCPT)]


async def test_each_pipelined_reply_has_the_timeout_not_the_whole_batch() -> None:
    slow = [(0.15, b"250 ok\r\n"), (0.15, b"250 ok\r\n"), (0.15, b"250 ok\r\n"),
            (0.15, b"354 go on\r\n")]
    server, port = await _scripted_smarthost(slow)
    async with server:
        assert [code for code, _, _ in await _pipelined(port, timeout=0.4)] == [250, 250]
    server, port = await _scripted_smarthost([(0, b"250 ok\r\n250 ok\r\n")], then_silent=True)
    async with server:
        started = asyncio.get_running_loop().time()
        with pytest.raises(TimeoutError):
            await _pipelined(port, timeout=0.4)
        assert asyncio.get_running_loop().time() - started < 2
