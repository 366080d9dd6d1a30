# SPDX-License-Identifier: Apache-2.0
"""Hostile and broken SMTP dialogues over real sockets: every refusal is permanent, says
why, and loses nothing else (issue #14 part 9, issue #16)."""

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import aiosmtplib
import pytest
from pydantic import ValidationError

from listserv.app import App, running
from listserv.core.addresses import Unreadable
from listserv.settings import Settings
from listserv.smtp.data import LINE_TOO_LONG
from listserv.smtp.handler import BAD_SYNTAX, NUL_IN_MESSAGE_ID, UNREADABLE_SENDER
from listserv.smtp.protocol import BAD_SENDER_SYNTAX, TOO_BIG, UNCLOSED_PATH
from tests.helpers import make_list, make_message, send_lmtp
from tests.sink import Sink
from tests.test_inbound import stored

UNREADABLE = [(b"\x00", "contains a NUL byte"), (b"\xff", "is not valid UTF-8"),
              (b"\xc3", "is not valid UTF-8")]


async def command(client: aiosmtplib.SMTP, line: bytes) -> tuple[int, str]:
    """Send one command line as given, octet for octet (aiosmtplib would refuse a NUL)."""
    assert client.transport is not None and client.protocol is not None
    client.transport.write(line + b"\r\n")
    reply = await client.protocol.read_response()
    return reply.code, reply.message


async def then_good_mail_is_stored(app: App, client: aiosmtplib.SMTP) -> None:
    """The session goes on after the refusal, and takes a good message."""
    await client.rset()
    await client.sendmail("alice@example.org", ["ops@example.com"], make_message())
    assert [row.mail_from for row in await stored(app)] == ["alice@example.org"]


@pytest.mark.parametrize(("octets", "reason"), UNREADABLE)
@pytest.mark.parametrize("sender", [b"a%sb@example.org", b"alice@exa%smple.org"])
async def test_a_sender_with_a_nul_or_bytes_not_utf8_is_refused_for_good_at_mail(
        app: App, octets: bytes, reason: str, sender: bytes) -> None:
    await make_list(app.sessions)
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=app.smtp_port) as client:
        assert await command(client, b"MAIL FROM:<" + sender % octets + b">") == (
            553, f"5.1.7 Sender address {reason}")
        await then_good_mail_is_stored(app, client)


@pytest.mark.parametrize(("octets", "reason"), UNREADABLE)
async def test_a_recipient_with_a_nul_or_bytes_not_utf8_is_refused_for_good_at_rcpt(
        app: App, octets: bytes, reason: str) -> None:
    await make_list(app.sessions)
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=app.smtp_port) as client:
        await client.mail("alice@example.org")
        assert await command(client, b"RCPT TO:<ops%s@example.com>" % octets) == (
            553, f"5.1.3 Recipient address {reason}")
        await then_good_mail_is_stored(app, client)


@pytest.mark.parametrize(("octets", "reply"), [
    (b"\x00", "5.6.0 Message-ID contains a NUL byte"),
    (b"\xff", "5.6.0 Message-ID is not valid UTF-8"),
    (b"\xe2\x82", "5.6.0 Message-ID is not valid UTF-8"),
])
async def test_a_message_id_with_a_nul_or_bytes_not_utf8_is_refused_for_good_at_data(
        app: App, octets: bytes, reply: str) -> None:
    await make_list(app.sessions)
    message = re.sub(rb"Message-ID: <", b"Message-ID: <a" + octets, make_message())
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=app.smtp_port) as client:
        await client.mail("alice@example.org")
        await client.rcpt("ops@example.com")
        with pytest.raises(aiosmtplib.SMTPDataError) as refused:
            await client.data(message)
        assert (refused.value.code, refused.value.message) == (554, reply)
        await then_good_mail_is_stored(app, client)


async def test_a_message_id_in_utf8_is_taken(app: App) -> None:
    await make_list(app.sessions)
    message = make_message().replace(b"Message-ID: <", b"Message-ID: <caf\xc3\xa9.")
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=app.smtp_port) as client:
        await client.sendmail("alice@example.org", ["ops@example.com"], message)
    assert len(await stored(app)) == 1


@pytest.mark.parametrize("line", [b"MAIL FROM:<alice@example.org",
                                  b"MAIL FROM:<alice@example.org SIZE=100"])
async def test_a_sender_path_without_its_closing_bracket_is_refused_with_501(
        app: App, line: bytes) -> None:
    await make_list(app.sessions)
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=app.smtp_port) as client:
        assert await command(client, line) == (
            501, '5.5.2 Syntax error: "<" without its closing ">"')
        await then_good_mail_is_stored(app, client)


async def test_a_recipient_path_without_its_closing_bracket_is_refused_with_501(
        app: App) -> None:
    await make_list(app.sessions)
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=app.smtp_port) as client:
        await client.mail("alice@example.org")
        assert await command(client, b"RCPT TO:<ops@example.com") == (
            501, '5.5.2 Syntax error: "<" without its closing ">"')
        # Without brackets at all, as some old clients write it, the path is still taken.
        assert (await command(client, b"RCPT TO:ops@example.com"))[0] == 250
        await client.data(make_message())
    assert len(await stored(app)) == 1


@pytest.mark.parametrize("recipient", [
    b"<not-an-address>", b"<ops@example.com@example.com>", b"<ops@@example.com>",
    b"<ops@-example.com>",
])
async def test_a_malformed_recipient_gets_553_5_1_3_whoever_finds_it(
        app: App, recipient: bytes) -> None:
    await make_list(app.sessions)
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=app.smtp_port) as client:
        await client.mail("alice@example.org")
        assert await command(client, b"RCPT TO:" + recipient) == (
            553, "5.1.3 Bad recipient address syntax")


async def test_a_sender_the_parser_cannot_read_gets_553_5_1_7(app: App) -> None:
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=app.smtp_port) as client:
        assert await command(client, b"MAIL FROM:<alice@example.org@example.org>") == (
            553, "5.1.7 Bad sender address syntax")


@pytest.fixture
async def small(settings: Settings) -> AsyncIterator[App]:
    async with running(settings.model_copy(update={"max_message_size": 50_000})) as app:
        await make_list(app.sessions)
        yield app


def too_big() -> bytes:
    return make_message() + (b"y" * 70 + b"\r\n") * 1000


async def test_a_message_declared_too_big_gets_552_5_3_4(small: App) -> None:
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=small.smtp_port) as client:
        with pytest.raises(aiosmtplib.SMTPSenderRefused) as refused:
            await client.mail("alice@example.org", options=["SIZE=50001"])
        assert (refused.value.code, refused.value.message) == (
            552, "5.3.4 Message too big for system")


async def test_a_message_that_turns_out_too_big_gets_552_5_3_4(small: App) -> None:
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=small.smtp_port) as client:
        await client.mail("alice@example.org")
        await client.rcpt("ops@example.com")
        with pytest.raises(aiosmtplib.SMTPDataError) as refused:
            await client.data(too_big())
        assert (refused.value.code, refused.value.message) == (
            552, "5.3.4 Message too big for system")
        await then_good_mail_is_stored(small, client)


async def test_lmtp_answers_a_message_too_big_once_per_recipient(small: App) -> None:
    assert small.lmtp_port is not None
    replies = await send_lmtp(small.lmtp_port, "alice@example.org",
                              ["ops@example.com", "ops-request@example.com"], too_big())
    assert replies == ["552 5.3.4 Message too big for system"] * 2
    assert await stored(small) == []


def with_a_long_line() -> bytes:
    return make_message() + b"x" * 1000 + b"\r\n"


async def test_a_line_over_999_octets_gets_500_5_6_0_after_the_message(app: App) -> None:
    await make_list(app.sessions)
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=app.smtp_port) as client:
        await client.mail("alice@example.org")
        await client.rcpt("ops@example.com")
        with pytest.raises(aiosmtplib.SMTPDataError) as refused:
            await client.data(with_a_long_line())
        assert f"{refused.value.code} {refused.value.message}" == LINE_TOO_LONG
        await then_good_mail_is_stored(app, client)


async def test_lmtp_answers_a_line_too_long_once_per_recipient(app: App) -> None:
    await make_list(app.sessions)
    assert app.lmtp_port is not None
    replies = await send_lmtp(app.lmtp_port, "alice@example.org",
                              ["ops@example.com", "ops-request@example.com"], with_a_long_line())
    assert replies == [LINE_TOO_LONG] * 2
    assert await stored(app) == []


async def test_commands_sent_on_with_the_end_of_a_message_are_answered_in_turn(
        app: App) -> None:
    """PIPELINING (RFC 2920): the next transaction may follow the final dot in one packet."""
    await make_list(app.sessions)
    first = make_message(subject="First") + b"..a line that starts with a dot\r\n"
    second = make_message(subject="Second")
    reader, writer = await asyncio.open_connection("127.0.0.1", app.smtp_port)
    try:
        writer.write(b"EHLO client.example.org\r\nMAIL FROM:<alice@example.org>\r\n"
                     b"RCPT TO:<ops@example.com>\r\nDATA\r\n")
        writer.write(first + b".\r\nMAIL FROM:<bob@example.org>\r\n"
                     b"RCPT TO:<ops@example.com>\r\nDATA\r\n" + second + b".\r\nQUIT\r\n")
        replies = [line[:3] for line in (await reader.read()).split(b"\r\n")
                   if line[3:4] == b" "]
    finally:
        writer.close()
    assert replies == [b"220", b"250", b"250", b"250", b"354", b"250",
                       b"250", b"250", b"354", b"250", b"221"]
    rows = await stored(app)
    assert [row.mail_from for row in rows] == ["alice@example.org", "bob@example.org"]
    assert rows[0].raw.endswith(b"\r\n.a line that starts with a dot\r\n")


def test_the_readme_gives_every_reply_these_tests_see() -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    section = readme.partition("## What the listener answers")[2].partition("\n## ")[0]
    said = " ".join(section.replace("`", "").split())
    replies = [UNCLOSED_PATH, BAD_SYNTAX, BAD_SENDER_SYNTAX, TOO_BIG, LINE_TOO_LONG,
               NUL_IN_MESSAGE_ID,
               UNREADABLE_SENDER[Unreadable.NUL], "553 5.1.3 Recipient address"]
    assert [reply for reply in replies if reply not in said] == []


ADMIN = "admin@isp.example.net"


@pytest.fixture
async def with_postmaster(settings: Settings) -> AsyncIterator[App]:
    async with running(settings.model_copy(update={"postmaster": ADMIN})) as app:
        await make_list(app.sessions)
        await make_list(app.sessions, "news@example.org")  # a domain served from the database
        yield app


@pytest.mark.parametrize("postmaster", [
    "postmaster@example.com", "PostMaster@EXAMPLE.COM", "postmaster@example.org", "Postmaster"])
async def test_mail_to_postmaster_goes_to_the_site_postmaster_with_the_null_sender(
        with_postmaster: App, sink: Sink, postmaster: str) -> None:
    app = with_postmaster
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=app.smtp_port) as client:
        await client.mail("reporter@example.net")
        assert (await client.rcpt(postmaster))[0] == 250
        await client.data(make_message(to=postmaster, subject="Abuse report"))
    await app.settle()
    [copy] = sink.to(ADMIN)
    assert (copy.mail_from, copy.recipients) == ("<>", [ADMIN])  # the null sender
    assert copy.message["Subject"] == "Abuse report"
    assert copy.message["X-BeenThere"] == "postmaster@listserv.test"


async def test_postmaster_of_another_domain_is_still_refused_as_a_relay(
        with_postmaster: App) -> None:
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=with_postmaster.smtp_port) as client:
        await client.mail("spammer@example.net")
        with pytest.raises(aiosmtplib.SMTPRecipientRefused) as refused:
            await client.rcpt("postmaster@gmail.com")
    assert (refused.value.code, refused.value.message[:5]) == (550, "5.7.1")


async def test_postmaster_mail_that_has_been_here_before_is_not_forwarded_again(
        with_postmaster: App, sink: Sink) -> None:
    app = with_postmaster
    looped = b"X-BeenThere: Postmaster@listserv.test\r\n" + make_message()
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=app.smtp_port) as client:
        await client.sendmail("", ["postmaster@example.com"], looped)
    await app.settle()
    assert sink.to(ADMIN) == []
    assert [row.disposition for row in await stored(app)] == ["discarded"]


async def test_without_a_postmaster_setting_postmaster_is_refused_and_start_up_says_so(
        settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    async with running(settings) as app:
        await make_list(app.sessions)
        async with aiosmtplib.SMTP(hostname="127.0.0.1", port=app.smtp_port) as client:
            await client.mail("reporter@example.net")
            with pytest.raises(aiosmtplib.SMTPRecipientRefused) as refused:
                await client.rcpt("postmaster@example.com")
    assert (refused.value.code, refused.value.message[:5]) == (550, "5.1.1")
    assert "LISTSERV_POSTMASTER is not set" in caplog.text


def test_a_postmaster_setting_that_would_loop_back_here_is_refused() -> None:
    with pytest.raises(ValidationError, match="would come back here"):
        Settings(domains=["example.com"], postmaster="Postmaster@example.com")
