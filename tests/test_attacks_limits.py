# SPDX-License-Identifier: Apache-2.0
"""Limits an attacker runs into over real SMTP: a held post's notice stays within the
site's largest message, and the moderator password cannot be guessed for long (issue
#14, item 9)."""

from collections.abc import AsyncIterator
from datetime import timedelta
from email.message import EmailMessage

import pytest
from sqlalchemy import select

from listserv.app import App, running
from listserv.db.models import ApprovalFailure
from listserv.settings import Settings
from tests.helpers import make_message
from tests.sink import Sink
from tests.test_moderation import (
    MODERATOR,
    OWNER,
    STRANGER,
    notices_to,
    setup_moderated_list,
    to_members,
)
from tests.test_post_path import held, post

SIZE_LIMIT = 300_000  # LISTSERV_MAX_MESSAGE_SIZE


@pytest.fixture
async def small_app(settings: Settings) -> AsyncIterator[App]:
    async with running(settings.model_copy(update={"max_message_size": SIZE_LIMIT})) as app:
        yield app


async def test_a_held_notice_stays_within_the_size_limit_with_a_cut_copy_of_a_large_post(
        small_app: App, sink: Sink) -> None:
    await setup_moderated_list(small_app)
    line = "Pressure holds at 40 bar on every valve of the line.\n"
    raw = make_message(sender=STRANGER, subject="Readings", body=line * 10_000)
    raw = raw[:SIZE_LIMIT - 200]  # as large as the site takes, less room for its Received
    await post(small_app, raw, sender=STRANGER)
    await small_app.settle()
    [row] = await held(small_app)
    assert len(row.raw) >= len(raw)
    [delivered] = [d for d in sink.to(MODERATOR) if "Held:" in str(d.message["Subject"])]
    assert len(delivered.raw) <= SIZE_LIMIT
    [notice] = notices_to(sink, MODERATOR)
    text = " ".join(notice.get_body(("plain",)).get_content().split())
    assert "the attached copy is cut after its first" in text
    [copy] = [part.get_content() for part in notice.iter_attachments()]
    assert copy["Subject"] == "Readings"
    assert line.strip() in copy.get_content()


PASSWORD = "correct horse"


def with_password(password: str, subject: str) -> bytes:
    raw = make_message(sender=STRANGER, subject=subject, body="Dear all,\n")
    return raw.replace(b"Subject:", f"Approved: {password}\r\nSubject:".encode())


async def post_with_password(app: App, password: str, subject: str) -> None:
    await post(app, with_password(password, subject), sender=STRANGER)
    await app.settle()


def guessing_notices(sink: Sink) -> list[EmailMessage]:
    return notices_to(sink, OWNER, "Moderator password ignored")


async def test_ten_wrong_moderator_passwords_an_hour_make_the_list_ignore_it_and_tell_owners(
        settings: Settings, sink: Sink) -> None:
    async with running(settings) as app:
        await setup_moderated_list(app, moderator_password=PASSWORD)
        for guess in range(9):
            await post_with_password(app, f"guess {guess}", f"Guess {guess}")
        assert guessing_notices(sink) == []
        await post_with_password(app, "guess 9", "Guess 9")
        [notice] = guessing_notices(sink)
        text = " ".join(notice.get_content().split())
        assert "10 posts to ops@example.com within the last hour carried a wrong moderator " \
               "password" in text and STRANGER in text
        assert MODERATOR not in str(notice["To"])
        await post_with_password(app, PASSWORD, "Right, but too late")
    async with running(settings) as app:  # the count is kept in the database
        await post_with_password(app, PASSWORD, "Right, after a restart")
        await post_with_password(app, "guess 10", "Guess 10")
        assert to_members(sink) == []
        assert [row.subject for row in await held(app)][-3:] == [
            "Right, but too late", "Right, after a restart", "Guess 10"]
        assert len(guessing_notices(sink)) == 1  # told once
        async with app.sessions.begin() as session:  # an hour later
            for failure in await session.scalars(select(ApprovalFailure)):
                failure.failed_at -= timedelta(minutes=61)
        await post_with_password(app, PASSWORD, "Right, an hour later")
        [released] = to_members(sink)
        assert released.message["Subject"].endswith("Right, an hour later")
