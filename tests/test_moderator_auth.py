# SPDX-License-Identifier: Apache-2.0
"""Decisions by mail count only from senders the front MTA authenticated (trusted_authserv_id)."""

from collections.abc import AsyncIterator

import pytest

from listserv.app import App, running
from listserv.settings import Settings
from tests.sink import Sink
from tests.test_moderation import (
    MODERATOR,
    hold_one,
    notices_to,
    reply,
    setup_moderated_list,
    to_members,
)
from tests.test_post_path import post

FRONT = "mx.example.com"
FRONT_HOP = "Received: from mail.example.org by mx.example.com; 28 Nov 2026 02:00 +0000\r\n"
SENDER_HOP = "Received: from laptop by mail.example.org; 28 Nov 2026 01:59 +0000\r\n"
RECEIVED = FRONT_HOP + SENDER_HOP


@pytest.fixture
async def front_app(settings: Settings) -> AsyncIterator[App]:
    async with running(settings.model_copy(update={"trusted_authserv_id": FRONT})) as app:
        yield app


async def reply_with(app: App, address: str, headers: str) -> None:
    raw = headers.encode() + reply(address, "approve")
    await post(app, raw, sender=MODERATOR, recipients=(address,))
    await app.settle()


@pytest.mark.parametrize("headers", [
    f"Authentication-Results: {FRONT}; dmarc=pass header.from=example.org\r\n{RECEIVED}",
    f"{FRONT_HOP}Authentication-Results: {FRONT};\r\n"
    f" dkim=pass header.d=example.org; dmarc=none header.from=other.example\r\n{SENDER_HOP}",
])
async def test_an_authenticated_moderator_reply_decides(front_app: App, sink: Sink,
                                                        headers: str) -> None:
    await setup_moderated_list(front_app)
    address = await hold_one(front_app, sink)
    await reply_with(front_app, address, headers)
    assert len(to_members(sink)) == 1
    [ack] = notices_to(sink, MODERATOR, "Re: Held")
    assert "Approved and sent to the list" in ack.get_content()


@pytest.mark.parametrize(("headers", "explanation"), [
    (f"Authentication-Results: {FRONT}; dmarc=fail header.from=example.org\r\n{RECEIVED}",
     "could not verify that it came from example.org"),
    (f"Authentication-Results: {FRONT}; dkim=pass header.d=evil.example\r\n{RECEIVED}",
     "could not verify that it came from example.org"),
    # Written by the sender below the front MTA's hop: forged, so the front said nothing.
    (f"{RECEIVED}Authentication-Results: {FRONT}; dmarc=pass header.from=example.org\r\n",
     f"the mail server {FRONT} found nothing about it"),
    ("Authentication-Results: mx.other.example; dmarc=pass header.from=example.org\r\n",
     f"the mail server {FRONT} found nothing about it"),
])
async def test_an_unauthenticated_moderator_reply_is_refused_with_an_explanation(
        front_app: App, sink: Sink, headers: str, explanation: str) -> None:
    await setup_moderated_list(front_app)
    address = await hold_one(front_app, sink)
    await reply_with(front_app, address, headers)
    assert to_members(sink) == []
    [answer] = notices_to(sink, MODERATOR, "Re: Held")
    text = " ".join(answer.get_content().split())
    assert text.startswith("Nothing was done: decisions by mail count only from mail whose "
                           "sender is authenticated")
    assert explanation in text
