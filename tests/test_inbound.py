# SPDX-License-Identifier: Apache-2.0
"""SMTP and LMTP intake over real sockets: refuse early, store before 250."""

import asyncio
import re

import aiosmtplib
import pytest
from sqlalchemy import func, select, text

from listserv.app import App, running
from listserv.db.lists import rename_list
from listserv.db.models import Inbound, MailingList
from listserv.settings import Settings
from tests.helpers import make_list, make_message, storage_refused


async def stored(app: App) -> list[Inbound]:
    async with app.sessions() as session:
        return list((await session.scalars(select(Inbound).order_by(Inbound.id))).all())


async def send(app: App, recipients: list[str], message: bytes,
               sender: str = "alice@example.org") -> tuple[dict[str, aiosmtplib.SMTPResponse], str]:
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=app.smtp_port) as client:
        return await client.sendmail(sender, recipients, message)


async def test_a_message_is_committed_before_the_250(app: App) -> None:
    await make_list(app.sessions)
    message = make_message()
    _, reply = await send(app, ["ops@example.com"], message)
    assert reply.startswith("2.0.0 Message accepted")
    # A new connection sees the row at once: the 250 came after the commit.
    [row] = await stored(app)
    assert (row.recipient, row.mail_from, row.raw) == (
        "ops@example.com", "alice@example.org", message)


async def test_one_row_per_list_recipient(app: App) -> None:
    await make_list(app.sessions)
    await send(app, ["ops@example.com", "ops-request@example.com"], make_message())
    assert [row.recipient for row in await stored(app)] == [
        "ops@example.com", "ops-request@example.com"]


@pytest.mark.parametrize("recipient", [
    "ops@example.com", "OPS@EXAMPLE.COM", "ops-request@example.com", "ops-owner@example.com",
    "ops-bounces@example.com", "ops-bounces+bob=example.org@example.com",
    "ops-confirm+0123abcd@example.com", "ops-join@example.com", "ops-subscribe@example.com",
    "ops-leave@example.com", "ops-unsubscribe@example.com",
])
async def test_every_list_address_is_accepted(app: App, recipient: str) -> None:
    await make_list(app.sessions)
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=app.smtp_port) as client:
        await client.mail("alice@example.org")
        code, _ = await client.rcpt(recipient)
    assert code == 250


@pytest.mark.parametrize(("recipient", "code", "status"), [
    ("nosuchlist@example.com", 550, "5.1.1"),
    ("ops+tag@example.com", 550, "5.1.1"),
    ("ops-owner+x@example.com", 550, "5.1.1"),
    ("victim@elsewhere.org", 550, "5.7.1"),
    ("ops@example.com.evil.org", 550, "5.7.1"),
    ("not-an-address", 553, "5.1.3"),
])
async def test_unknown_recipients_and_other_domains_are_refused_at_rcpt(
        app: App, recipient: str, code: int, status: str) -> None:
    await make_list(app.sessions)
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=app.smtp_port) as client:
        await client.mail("alice@example.org")
        with pytest.raises(aiosmtplib.SMTPRecipientRefused) as refused:
            await client.rcpt(recipient)
    assert refused.value.code == code
    assert refused.value.message.startswith(status)
    assert await stored(app) == []


async def test_a_renamed_list_still_takes_mail_at_its_old_addresses(app: App) -> None:
    await make_list(app.sessions)
    async with app.sessions.begin() as session:
        mlist = await session.scalar(select(MailingList))
        assert mlist is not None
        await rename_list(session, mlist, "opex@example.com")
    await send(app, ["ops@example.com", "ops-request@example.com", "opex-owner@example.com"],
               make_message())
    assert len(await stored(app)) == 3


async def test_oversized_message_is_refused_with_552(settings: Settings) -> None:
    small = settings.model_copy(update={"max_message_size": 50_000})
    async with running(small) as app:
        await make_list(app.sessions)
        async with aiosmtplib.SMTP(hostname="127.0.0.1", port=app.smtp_port) as client:
            assert client.esmtp_extensions["size"] == "50000"
            # Declared too big in MAIL FROM: refused before any data is sent.
            with pytest.raises(aiosmtplib.SMTPSenderRefused) as refused:
                await client.mail("alice@example.org", options=["SIZE=50001"])
            assert refused.value.code == 552
            await client.rset()
            # Not declared, but too big when it arrives.
            await client.mail("alice@example.org")
            await client.rcpt("ops@example.com")
            with pytest.raises(aiosmtplib.SMTPDataError) as too_big:
                await client.data(make_message() + (b"y" * 70 + b"\r\n") * 1000)
            assert too_big.value.code == 552
        assert await stored(app) == []


async def test_many_concurrent_messages_are_all_stored(app: App) -> None:
    await make_list(app.sessions)

    async def connection(n: int) -> None:
        async with aiosmtplib.SMTP(hostname="127.0.0.1", port=app.smtp_port) as client:
            for _ in range(n):
                await client.sendmail("alice@example.org", ["ops@example.com"], make_message())

    await asyncio.gather(*(connection(10) for _ in range(5)))
    assert len(await stored(app)) == 50


async def test_a_database_failure_answers_451_and_stores_nothing_half(app: App) -> None:
    await make_list(app.sessions)
    async with storage_refused(app, "ops-request@example.com"):
        with pytest.raises(aiosmtplib.SMTPDataError) as failed:
            # The first row would store, the second fails: the transaction stores neither.
            await send(app, ["ops@example.com", "ops-request@example.com"], make_message())
        assert failed.value.code == 451
        assert failed.value.message.startswith("4.3.0")
        assert await stored(app) == []
        # Another sender's message, committed at the same time, is not dragged down.
        results = await asyncio.gather(
            send(app, ["ops@example.com"], make_message()),
            send(app, ["ops-request@example.com"], make_message()),
            return_exceptions=True)
        assert isinstance(results[1], aiosmtplib.SMTPDataError)
        assert [row.recipient for row in await stored(app)] == ["ops@example.com"]


async def test_a_lookup_failure_at_rcpt_is_temporary(app: App) -> None:
    async with app.engine.begin() as connection:
        await connection.execute(text("ALTER TABLE mailing_list RENAME TO mailing_list_away"))
    try:
        async with aiosmtplib.SMTP(hostname="127.0.0.1", port=app.smtp_port) as client:
            await client.mail("alice@example.org")
            with pytest.raises(aiosmtplib.SMTPRecipientRefused) as refused:
                await client.rcpt("ops@example.com")
        assert refused.value.code == 451
    finally:
        async with app.engine.begin() as connection:
            await connection.execute(text("ALTER TABLE mailing_list_away RENAME TO mailing_list"))


async def test_lmtp_answers_once_per_recipient(app: App) -> None:
    await make_list(app.sessions)
    assert app.lmtp_port is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", app.lmtp_port)

    async def command(line: str) -> list[str]:
        if line:
            writer.write(line.encode() + b"\r\n")
        replies = [(await reader.readline()).decode().rstrip()]
        while replies[-1][3:4] == "-":
            replies.append((await reader.readline()).decode().rstrip())
        return replies

    assert (await command(""))[0].startswith("220")
    assert (await command("LHLO client.example.org"))[-1].startswith("250")
    assert (await command("MAIL FROM:<alice@example.org>"))[0].startswith("250")
    assert (await command("RCPT TO:<ops@example.com>"))[0].startswith("250")
    assert (await command("RCPT TO:<nobody@example.com>"))[0].startswith("550 5.1.1")
    assert (await command("RCPT TO:<ops-request@example.com>"))[0].startswith("250")
    assert (await command("DATA"))[0].startswith("354")
    writer.write(make_message().replace(b"\n", b"\r\n") + b".\r\n")
    await writer.drain()
    replies = [(await reader.readline()).decode().rstrip() for _ in range(2)]
    assert replies == ["250 2.0.0 Message accepted"] * 2
    writer.write(b"QUIT\r\n")
    writer.close()
    assert [row.recipient for row in await stored(app)] == [
        "ops@example.com", "ops-request@example.com"]


async def test_the_listener_is_no_open_relay_even_without_lists(app: App) -> None:
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=app.smtp_port) as client:
        await client.mail("spammer@example.net")
        with pytest.raises(aiosmtplib.SMTPRecipientRefused) as refused:
            await client.rcpt("victim@gmail.com")
    assert refused.value.code == 550
    async with app.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Inbound)) == 0


async def test_an_overlong_sender_is_refused_at_mail_not_stored_and_retried(app: App) -> None:
    await make_list(app.sessions)
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=app.smtp_port) as client:
        with pytest.raises(aiosmtplib.SMTPSenderRefused) as refused:
            await client.mail("x" * 250 + "@example.org")
        assert (refused.value.code, refused.value.message[:5]) == (553, "5.1.7")
        await client.rset()
        await client.sendmail("alice@example.org", ["ops@example.com"], make_message())
    assert len(await stored(app)) == 1


async def test_a_sender_stalled_mid_message_does_not_hold_up_the_others(app: App) -> None:
    await make_list(app.sessions)
    slow = make_message(subject="Slow").replace(b"\n", b"\r\n")
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=app.smtp_port) as stalled:
        await stalled.mail("bob@example.net")
        await stalled.rcpt("ops@example.com")
        assert (await stalled.execute_command(b"DATA")).code == 354
        stalled.transport.write(slow[:100])  # then nothing, for now
        # Its transaction is under way; the intake writer may wait a moment for it, no more.
        await asyncio.wait_for(send(app, ["ops@example.com"], make_message(subject="Fast")), 5)
        assert len(await stored(app)) == 1
        stalled.transport.write(slow[100:] + b".\r\n")
        assert (await stalled.protocol.read_response()).code == 250
    assert len(await stored(app)) == 2


async def test_a_lost_database_connection_is_replaced_before_the_next_commit(
        app: App, database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("a SQLite file has no server connection to lose")
    await make_list(app.sessions)
    await send(app, ["ops@example.com"], make_message(subject="Before"))
    async with app.engine.connect() as connection:  # as a server restart would
        await connection.execute(text(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"))
    await send(app, ["ops@example.com"], make_message(subject="After"))
    assert len(await stored(app)) == 2


def with_header(extra: bytes) -> bytes:
    return make_message().replace(b"\r\nSubject:", b"\r\n" + extra + b"\r\nSubject:", 1)


async def test_a_header_section_over_the_limit_is_refused_and_not_stored(app: App) -> None:
    await make_list(app.sessions)
    folded = b"X-Filler: start" + b"\r\n " + b"\r\n ".join([b"x" * 989] * 110)  # 109 KB
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=app.smtp_port) as client:
        await client.mail("alice@example.org")
        await client.rcpt("ops@example.com")
        with pytest.raises(aiosmtplib.SMTPDataError) as refused:
            await client.data(with_header(folded))
        assert (refused.value.code, refused.value.message) == (
            552, "5.3.4 Message header section too big")
        # The session goes on: a message within the limit is taken.
        await client.sendmail("alice@example.org", ["ops@example.com"], with_header(
            b"X-Filler: start" + b"\r\n " + b"\r\n ".join([b"x" * 989] * 90)))
    [row] = await stored(app)
    assert b"X-Filler: start\r\n xxx" in row.raw


async def test_a_header_naming_too_many_people_is_refused_and_not_stored(app: App) -> None:
    await make_list(app.sessions)
    cc = b"Cc: " + b",\r\n ".join(b"member%d@example.net" % n for n in range(1001))
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=app.smtp_port) as client:
        await client.mail("alice@example.org")
        await client.rcpt("ops@example.com")
        with pytest.raises(aiosmtplib.SMTPDataError) as refused:
            await client.data(with_header(cc))
    assert (refused.value.code, refused.value.message) == (
        554, "5.6.0 Too many addresses in the message header")
    assert await stored(app) == []


async def test_lmtp_refuses_a_header_section_over_the_limit_for_each_recipient(
        app: App) -> None:
    await make_list(app.sessions)
    assert app.lmtp_port is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", app.lmtp_port)
    for line in (b"LHLO client.example.org", b"MAIL FROM:<alice@example.org>",
                 b"RCPT TO:<ops@example.com>", b"RCPT TO:<ops-request@example.com>", b"DATA"):
        writer.write(line + b"\r\n")
    folded = b"X-Filler: start" + b"\r\n " + b"\r\n ".join([b"x" * 989] * 110)
    writer.write(with_header(folded) + b".\r\n")
    await writer.drain()
    while not (await reader.readline()).startswith(b"354"):
        pass
    replies = [(await reader.readline()).decode().rstrip() for _ in range(2)]
    writer.write(b"QUIT\r\n")
    writer.close()
    # RFC 2033: one reply per accepted recipient after DATA.
    assert replies == ["552 5.3.4 Message header section too big"] * 2
    assert await stored(app) == []


async def test_a_list_named_again_in_one_transaction_is_stored_once(app: App) -> None:
    await make_list(app.sessions)
    async with app.sessions.begin() as session:
        mlist = await session.scalar(select(MailingList))
        assert mlist is not None
        await rename_list(session, mlist, "opex@example.com")
    recipients = ["opex@example.com", "ops-request@example.com", "ops@example.com",
                  "OPEX@EXAMPLE.COM", "opex-request@example.com", "ops-join@example.com",
                  "opex-subscribe@example.com", *["Opex@Example.com"] * 100]
    refused, _ = await send(app, recipients, make_message())
    assert refused == {}  # every RCPT got 250: RFC 5321 allows repeats
    # One transaction is one message: once for each destination (#14.3).
    assert [row.recipient for row in await stored(app)] == [
        "opex@example.com", "ops-request@example.com", "ops-join@example.com"]


async def test_a_message_without_message_id_is_stored_with_one(app: App) -> None:
    await make_list(app.sessions)
    message = re.sub(rb"Message-ID: [^\r\n]*\r\n", b"", make_message())
    await send(app, ["ops@example.com", "ops-request@example.com"], message)
    await send(app, ["ops@example.com"], message.replace(b"\r\n", b"\n"))
    first, request, again = await stored(app)
    assert re.fullmatch(r"<[0-9a-f]{32}@listserv\.test>", first.message_id)
    assert first.raw == f"Message-ID: {first.message_id}\r\n".encode() + message
    # The same message, however it travelled, gets the same id.
    assert request.message_id == again.message_id == first.message_id
