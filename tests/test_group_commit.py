# SPDX-License-Identifier: Apache-2.0
"""Group commit at intake: SMTP transactions that wait for the same commit share it, and
each still gets the answer its own message earned."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiosmtplib
from sqlalchemy import select, text

from listserv.app import App
from listserv.db.models import Inbound
from tests.helpers import make_list, make_message, storage_refused

SENDERS = 8
WAIT_SECONDS = 10.0


@asynccontextmanager
async def writes_held(app: App) -> AsyncIterator[None]:
    """Hold off writes to inbound from another connection, as a long transaction would."""
    async with app.engine.connect() as connection:
        # On SQLite the engine's BEGIN is BEGIN IMMEDIATE: it takes the write lock.
        await connection.begin()
        if connection.dialect.name == "postgresql":
            await connection.execute(text("LOCK TABLE inbound IN SHARE MODE"))
        try:
            yield
        finally:
            await connection.rollback()


async def send(app: App, recipient: str, message: bytes) -> aiosmtplib.SMTPResponse:
    """One sender on its own connection; the answer to its DATA, whatever it is."""
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=app.smtp_port) as client:
        await client.mail("alice@example.org")
        await client.rcpt(recipient)
        return await client.data(message)


def commits(app: App) -> float:
    return app.metrics.registry.get_sample_value("listserv_intake_commits_total") or 0.0


async def all_waiting_for_commit(app: App, count: int) -> None:
    async with asyncio.timeout(WAIT_SECONDS):
        while sum(handler.in_flight for handler in app.handlers) < count:
            await asyncio.sleep(0.01)


Answer = aiosmtplib.SMTPResponse | BaseException


async def senders_held_together(app: App, recipients: list[str]
                                ) -> tuple[list[bytes], list[Answer]]:
    """Send one message per recipient at once while writes are held off, so that all of
    them wait for the commit; then let it go. Their messages and answers, in order."""
    messages = [make_message(subject=f"Post {n}") for n in range(len(recipients))]
    async with writes_held(app):
        sending = [asyncio.create_task(send(app, recipient, message))
                   for recipient, message in zip(recipients, messages, strict=True)]
        await all_waiting_for_commit(app, len(recipients))
    answers = await asyncio.gather(*sending, return_exceptions=True)
    return messages, answers


async def stored_raw(app: App) -> set[bytes]:
    async with app.sessions() as session:
        return set((await session.scalars(select(Inbound.raw))).all())


async def test_messages_waiting_together_share_a_commit_and_each_is_stored(app: App) -> None:
    await make_list(app.sessions)
    before = commits(app)
    messages, answers = await senders_held_together(app, ["ops@example.com"] * SENDERS)
    for answer in answers:
        assert isinstance(answer, aiosmtplib.SMTPResponse)
        assert (answer.code, answer.message) == (250, "2.0.0 Message accepted")
    assert await stored_raw(app) == set(messages)
    # The first may have gone to the database before the others came; the rest share one.
    assert commits(app) - before <= 2


async def test_a_bad_message_in_a_group_fails_alone(app: App) -> None:
    await make_list(app.sessions)
    recipients = ["ops@example.com", "ops-request@example.com"] * (SENDERS // 2)
    async with storage_refused(app, "ops-request@example.com"):
        messages, answers = await senders_held_together(app, recipients)
    for recipient, answer in zip(recipients, answers, strict=True):
        if recipient == "ops@example.com":
            assert isinstance(answer, aiosmtplib.SMTPResponse) and answer.code == 250
        else:
            assert isinstance(answer, aiosmtplib.SMTPDataError) and answer.code == 451
    assert await stored_raw(app) == set(messages[::2])


async def test_a_database_failure_answers_every_message_of_the_group_451(app: App) -> None:
    await make_list(app.sessions)
    before = commits(app)
    async with storage_refused(app):
        _, answers = await senders_held_together(app, ["ops@example.com"] * SENDERS)
    for answer in answers:
        assert isinstance(answer, aiosmtplib.SMTPDataError)
        assert (answer.code, answer.message[:5]) == (451, "4.3.0")
    assert await stored_raw(app) == set()
    assert commits(app) == before
    # The writer goes on once the database takes rows again.
    message = make_message(subject="Later")
    assert (await send(app, "ops@example.com", message)).code == 250
    assert await stored_raw(app) == {message}

