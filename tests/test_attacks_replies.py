# SPDX-License-Identifier: Apache-2.0
"""Forged replies over real SMTP: no backscatter past the daily limit, and a forged From
approves nothing and changes no member's delivery (issue #14, parts 4 and 5)."""

import secrets
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import make_msgid

import aiosmtplib
import pytest

from listserv.app import App, running
from listserv.settings import Settings
from tests.sink import Sink
from tests.test_moderation import MODERATOR, OWNER, STRANGER, hold_one, setup_moderated_list
from tests.test_moderator_auth import FRONT, RECEIVED
from tests.test_post_path import held, list_mail
from tests.test_subscriptions import (
    ALICE,
    CAROL,
    LIST,
    REQUEST,
    answers,
    confirmations,
    members,
    reply_to,
    text,
    token,
)
from tests.test_subscriptions import OWNER as LIST_OWNER
from tests.test_subscriptions import setup_list as setup_request_list

EVE = "eve@evil.test"
LIMIT = 10  # LISTSERV_AUTORESPONSES_PER_DAY's default


def forged(*, author: str, to: str, body: str = "", subject: str = "Re: Held",
           headers: str = "") -> bytes:
    """A message whose From names author, whoever sends it."""
    message = EmailMessage()
    message["From"] = author
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain="evil.test")
    message.set_content(body)
    return headers.encode() + message.as_bytes(policy=SMTP)


async def send(app: App, raw: bytes, to: str, *, envelope: str = EVE) -> None:
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=app.smtp_port) as client:
        await client.sendmail(envelope, [to], raw)
    await app.settle()


def answered(sink: Sink, address: str) -> int:
    """Mail listserv sent to the address that is not list mail."""
    return len([d for d in sink.to(address) if not d.message["List-Id"]])


async def test_thirty_forged_owner_replies_get_at_most_the_daily_limit_of_answers(
        app: App, sink: Sink) -> None:
    await setup_moderated_list(app)
    for _ in range(30):
        confirm = f"ops-confirm+{secrets.token_hex(16)}@example.com"
        await send(app, forged(author=OWNER, to=confirm, body="approve"), confirm)
    assert answered(sink, EVE) == LIMIT
    assert all(d.recipients == [EVE] and d.message["To"] == EVE for d in sink.to(EVE))
    assert answered(sink, OWNER) == 0


async def test_every_answer_goes_to_the_envelope_sender_within_one_daily_limit(
        app: App, sink: Sink) -> None:
    await setup_moderated_list(app, moderator_notices_per_hour="50")
    unknown = "ops-confirm+0000000000000000@example.com"
    routes = [(forged(author=STRANGER, to=REQUEST, subject="help"), REQUEST),
              (forged(author=STRANGER, to=LIST, subject="Offer"), LIST),
              (forged(author=STRANGER, to=unknown), unknown)]
    for raw, to in routes * 10:
        await send(app, raw, to)
    assert answered(sink, EVE) == LIMIT
    assert {str(d.message["Subject"]).partition(":")[0] for d in sink.to(EVE)} == {
        "Re", "Your message to Operations Excellence awaits moderation"}
    assert {str(d.message["Subject"]) for d in sink.to(EVE)} >= {"Re: help", "Re: Held"}
    assert answered(sink, STRANGER) == 0  # the forged From hears nothing
    # A moderator's rejection returns the post to where it came from, not to its From.
    await send(app, forged(author=STRANGER, to=LIST, subject="Second"), LIST,
               envelope="sales@partner.example")
    [notice] = [d for d in sink.to(MODERATOR) if "Second" in str(d.message["Subject"])]
    confirm = str(notice.message["Reply-To"])
    await send(app, forged(author=MODERATOR, to=confirm, body="reject Not here"), confirm,
               envelope=MODERATOR)
    [returned] = [d for d in sink.to("sales@partner.example")
                  if "rejected" in str(d.message["Subject"])]
    assert "Not here" in returned.message.get_body(("plain",)).get_content()
    assert answered(sink, STRANGER) == 0


async def test_a_forged_moderator_approval_decides_nothing_and_a_genuine_one_approves(
        app: App, sink: Sink) -> None:
    await setup_moderated_list(app)
    address = await hold_one(app, sink)
    await send(app, forged(author=MODERATOR, to=address, body="approve"), address)
    assert list_mail(sink) == [] and (await held(app))[0].decided_at is None
    [answer] = [d.message for d in sink.to(EVE)]
    explanation = " ".join(answer.get_content().split())
    assert explanation.startswith("Nothing was done: decisions by mail count only from mail "
                                  "whose envelope sender (its Return-Path) is the From address")
    assert "listserv held" in explanation
    assert answered(sink, MODERATOR) == 1  # the held notice only
    await send(app, forged(author=MODERATOR, to=address, body="approve"), address,
               envelope=MODERATOR.upper())  # the same mailbox, by match key
    assert len({d.message["Message-ID"] for d in list_mail(sink)}) == 1
    assert (await held(app))[0].decided_by == MODERATOR


async def test_a_list_may_relax_the_envelope_check(app: App, sink: Sink) -> None:
    await setup_moderated_list(app, moderator_replies_need_auth="false")
    address = await hold_one(app, sink)
    await send(app, forged(author=MODERATOR, to=address, body="approve"), address)
    assert (await held(app))[0].decision == "approve"


async def test_a_forged_subscription_approval_decides_nothing(app: App, sink: Sink) -> None:
    await setup_request_list(app, subscription_policy="moderate")
    await send(app, forged(author=CAROL, to=REQUEST, body="subscribe"), REQUEST,
               envelope=CAROL)
    [request] = sink.to(LIST_OWNER)
    confirm = str(request.message["Reply-To"])
    await send(app, forged(author=LIST_OWNER, to=confirm, body="approve"), confirm)
    assert await members(app) == {}
    assert "envelope sender (its Return-Path) is the From address" in text(sink.to(EVE)[0])
    await reply_to(app, token(request), "approve", sender=LIST_OWNER)
    assert await members(app) == {CAROL: "regular enabled"}


@pytest.mark.parametrize("envelope", [EVE, ALICE])  # forged From alone, or both
async def test_a_forged_set_changes_nothing_until_the_member_confirms(
        app: App, sink: Sink, envelope: str) -> None:
    await setup_request_list(app, (ALICE,))
    for command in ("set delivery digest-plain", "set nomail on"):
        await send(app, forged(author=ALICE, to=REQUEST, body=command), REQUEST,
                   envelope=envelope)
    assert await members(app) == {ALICE: "regular enabled"}
    first, second = confirmations(sink, ALICE)
    assert "have alice@example.org receive plain-text digests" in text(first)
    assert "stop mail from the Operations Excellence list" in text(second)
    assert first.recipients == [ALICE]
    await reply_to(app, token(first))
    assert await members(app) == {ALICE: "digest-plain enabled"}
    await reply_to(app, token(second))
    assert await members(app) == {ALICE: "digest-plain disabled-by-user"}


async def test_a_set_the_front_mta_authenticated_acts_at_once(settings: Settings,
                                                              sink: Sink) -> None:
    passed = f"Authentication-Results: {FRONT}; dmarc=pass header.from=example.org\r\n"
    failed = passed.replace("dmarc=pass", "dmarc=fail")
    async with running(settings.model_copy(update={"trusted_authserv_id": FRONT})) as app:
        await setup_request_list(app, (ALICE,))
        await send(app, forged(author=ALICE, to=REQUEST, body="set delivery digest-mime",
                               headers=passed + RECEIVED), REQUEST,
                   envelope="bounce-1234@esp.example")
        assert await members(app) == {ALICE: "digest-mime enabled"}
        assert confirmations(sink, ALICE) == []
        await send(app, forged(author=ALICE, to=REQUEST, body="set delivery regular",
                               headers=failed + RECEIVED), REQUEST, envelope=ALICE)
        assert await members(app) == {ALICE: "digest-mime enabled"}
        [request] = confirmations(sink, ALICE)
        assert "each post as it is sent" in text(request)
        assert "asking it to confirm the change" in text(answers(sink, ALICE)[-1])
